"""Deterministic crash points for the crash-safety tests (inert unless a test sets them).

``ARTIFACTCTL_TEST_PAUSE_AT=<step>`` makes the process announce
``artifactctl: paused at <step>`` on stderr and sleep
(``ARTIFACTCTL_TEST_PAUSE_SECONDS``, default 60) when it reaches that named step,
so a test can SIGKILL it exactly there. The registry's steps are listed in
README.md (section "Experiment registry").
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_AT = "ARTIFACTCTL_TEST_PAUSE_AT"
PAUSE_SECONDS = "ARTIFACTCTL_TEST_PAUSE_SECONDS"


def checkpoint(step: str) -> None:
    if os.environ.get(PAUSE_AT) != step:
        return
    sys.stderr.write(f"artifactctl: paused at {step}\n")
    sys.stderr.flush()
    time.sleep(float(os.environ.get(PAUSE_SECONDS, "60")))
