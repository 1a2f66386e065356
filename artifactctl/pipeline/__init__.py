"""The reference generate -> reference -> train -> evaluate pipeline.

Each stage is a module run by DVC (``python -m artifactctl.pipeline.<stage>``),
written against artifactctl's public API the way a team writes its own stages:
every path comes from ``artifactctl.context()``, so the same code serves
production (``dvc repro``) and test runs (``artifactctl run``).
"""
