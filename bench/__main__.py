"""Run every benchmark and print one table of medians and ratios.

Usage: python -m bench [--quick] [NAME ...]   (NAME: a module listed in BENCHMARKS)
Each benchmark module exposes ``run(quick: bool) -> list[Row]``. Results are also
written to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import Row

BENCHMARKS = ("startup", "verify", "run", "pull", "push", "clean", "registry", "serve")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {BENCHMARKS})"
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller data")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    console = Console(stderr=True)
    rows: list[Row] = []
    for name in names:
        console.print(f"[bold]bench {name}[/bold] ...")
        started = time.perf_counter()
        rows += importlib.import_module(f"bench.{name}").run(quick=args.quick)
        console.print(f"  done in {time.perf_counter() - started:.1f} s")
    table = Table(title="artifactctl benchmarks (medians)", title_justify="left")
    for col in (
        "benchmark",
        "artifactctl",
        "median",
        "baseline",
        "median",
        "ratio",
        "peak RSS",
        "note",
    ):
        table.add_column(col, justify="right" if col in ("median", "ratio", "peak RSS") else "left")
    for r in rows:
        table.add_row(
            r.benchmark,
            r.ours,
            f"{r.ours_seconds:.3f} s",
            r.baseline,
            "" if r.baseline_seconds is None else f"{r.baseline_seconds:.3f} s",
            "" if r.ratio is None else f"{r.ratio:.2f}x",
            "" if r.ours_rss_mib is None else f"{r.ours_rss_mib:.0f} MiB",
            r.note,
        )
    Console(width=200).print(table)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    doc = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
    }
    (out / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
