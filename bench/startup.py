"""CLI start-up: `artifactctl --help` / `--version` vs `dvc --help`, interleaved."""

from __future__ import annotations

from bench.common import BIN, Row, interleaved


def run(quick: bool = False) -> list[Row]:
    runs = 7 if quick else 21
    cmds = {
        "artifactctl --help": [str(BIN / "artifactctl"), "--help"],
        "artifactctl --version": [str(BIN / "artifactctl"), "--version"],
        "dvc --help": [str(BIN / "dvc"), "--help"],
        "python -c pass": [str(BIN / "python"), "-c", "pass"],
    }
    got = interleaved(cmds, runs)
    dvc = got["dvc --help"].seconds
    return [
        Row(
            "startup",
            "artifactctl --help",
            got["artifactctl --help"].seconds,
            "dvc --help",
            dvc,
            got["artifactctl --help"].max_rss_mib,
            note=f"target <= 0.2 s and <= 0.75x dvc; {runs} runs",
        ),
        Row(
            "startup",
            "artifactctl --version",
            got["artifactctl --version"].seconds,
            "dvc --help",
            dvc,
            got["artifactctl --version"].max_rss_mib,
        ),
        Row(
            "startup",
            "python -c pass",
            got["python -c pass"].seconds,
            "dvc --help",
            dvc,
            note="interpreter floor",
        ),
    ]
