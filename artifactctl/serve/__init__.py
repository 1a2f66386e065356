"""``artifactctl serve``: the registry over HTTP, read-only, and its dashboard.

The JSON documents (``documents``), the files a request may be answered with and
their verification (``sources``, ``files``), the run listing (``runs``) and the
dashboard (``dashboard``, ``charts``) are plain Python; only ``app``, ``http``,
``auth`` and ``server`` import FastAPI, Starlette or uvicorn, the optional extra
``artifactctl[serve]``. ``artifactctl report`` renders the dashboard without it.

Every request reads the repository afresh: the ledger and champion.json are
replaced atomically by the registry, so an answer reflects one state or the next,
and a file is served only after its bytes matched their record (see ``files``).
"""

from __future__ import annotations

EXTRA_HINT = 'install the extra: pip install "artifactctl[serve]"'
