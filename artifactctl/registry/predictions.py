"""Prediction files (``predictions.csv``: row_id, actual, predicted) as numpy arrays.

The rows of two experiments are paired by ``row_id`` with sorted arrays, not a
dict per row: at a million rows a dict of Python strings costs more memory than
every other part of the gates together. A file is parsed by numpy's C reader in
chunks of ``READ_ROWS`` rows, each chunk's IDs kept as one array of fixed-width
bytes, the floats written into arrays sized by a first pass that also takes the
file's md5 (``promote`` re-checks it before it records a result). IDs compare as
their UTF-8 bytes, exactly as text. pandas is not used: importing it alone costs
more memory (40 MiB) than a million rows of both files.

numpy is imported inside the functions so that ``artifactctl --help`` stays light.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from artifactctl.errors import EnvironmentProblem, UsageError

COLUMNS = ("row_id", "actual", "predicted")
READ_ROWS = 1 << 14  # rows per parsed chunk: only this many Python strings are alive at once
SAME_ROWS_HINT = "re-evaluate both on the same evaluation split (`dvc repro`)"


@dataclass(frozen=True)
class Predictions:
    row_ids: Any  # numpy bytes (UTF-8, as read from a file), or any sequence of str
    actual: Any  # numpy float arrays
    predicted: Any
    md5: str | None = None  # of the file's bytes, when read from a file
    source: str = "the predictions"  # named in messages


def read_predictions(path: Path, columns: tuple[str, str, str] = COLUMNS) -> Predictions:
    """predictions.csv as arrays; a malformed file is bad input (exit 2).

    ``columns``: the names of the row ID, actual and predicted columns in the file.
    """
    try:
        with open(path, "rb") as fh:
            before = os.fstat(fh.fileno())
            md5, lines = _scan(fh)
            fh.seek(0)
            with open(fh.fileno(), encoding="utf-8", newline="", closefd=False) as text:
                table = _parse(text, lines, path.name, columns)
            after = os.fstat(fh.fileno())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise EnvironmentProblem(
            f"{path} changed while it was read", hint="another command is writing it; run again"
        )
    return table.predictions(md5, str(path))


def _scan(fh: BinaryIO) -> tuple[str, int]:
    """The file's md5 and how many lines it has at most (rows can be no more)."""
    md5, newlines = hashlib.md5(), 0
    while block := fh.read(1 << 20):
        md5.update(block)
        newlines += block.count(b"\n")
    return md5.hexdigest(), newlines + 1


def _parse(text: TextIO, lines: int, name: str, names: tuple[str, str, str]) -> _Table:
    """The CSV's three columns, ``READ_ROWS`` rows at a time (numpy's C parser)."""
    import numpy as np

    header = next(csv.reader([text.readline()]), [])
    missing = [c for c in names if c not in header]
    if missing:
        raise UsageError(f"{name} lacks column(s) {', '.join(missing)}")
    table = _Table(capacity=lines)
    dtype = np.dtype([("row_id", object), ("actual", float), ("predicted", float)])
    columns = [header.index(c) for c in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns when the last read finds no rows
        while True:
            chunk = np.loadtxt(
                text,
                dtype=dtype,
                delimiter=",",
                quotechar='"',
                comments=None,
                usecols=columns,
                max_rows=READ_ROWS,
                ndmin=1,
            )
            table.add(chunk)
            if len(chunk) < READ_ROWS:
                return table


class _Table:
    """The three columns, filled chunk by chunk (the floats in place: no copy to join them)."""

    def __init__(self, capacity: int) -> None:
        import numpy as np

        self.ids: list[Any] = []
        self.actual = np.empty(capacity)  # pages are only touched (resident) once filled
        self.predicted = np.empty(capacity)
        self.rows = 0

    def add(self, chunk: Any) -> None:
        start, self.rows = self.rows, self.rows + len(chunk)
        self.ids.append(id_array(chunk["row_id"]))
        self.actual[start : self.rows] = chunk["actual"]
        self.predicted[start : self.rows] = chunk["predicted"]

    def predictions(self, md5: str, source: str) -> Predictions:
        import numpy as np

        ids = np.concatenate(self.ids)
        self.ids.clear()
        n = self.rows
        return Predictions(ids, self.actual[:n], self.predicted[:n], md5=md5, source=source)


def id_array(values: Any) -> Any:
    """row_ids as a numpy array of their UTF-8 bytes (how files are read, and compared)."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return values
    try:
        return np.asarray(values, dtype="S")  # ASCII, the usual case
    except UnicodeEncodeError:
        return np.asarray([str(v).encode("utf-8") for v in values], dtype="S")


def align(candidate: Predictions, baseline: Predictions) -> tuple[Any, Any, Any]:
    """(actual, candidate predicted, baseline predicted) paired by row_id, in the candidate's order.

    Different sets of evaluation rows (or different actual values on a row) make
    the comparison meaningless: UsageError; so does a file that repeats a row_id.
    """
    order = _pair(candidate, baseline)
    base_actual = baseline.actual if order is None else baseline.actual[order]
    if not _close(candidate.actual, base_actual):
        raise UsageError(
            "the two experiments' predictions disagree on the actual values of the same rows",
            hint=SAME_ROWS_HINT,
        )
    del base_actual
    base_predicted = baseline.predicted if order is None else baseline.predicted[order]
    return candidate.actual, candidate.predicted, base_predicted


def _pair(candidate: Predictions, baseline: Predictions) -> Any:
    """For each candidate row, the position of the baseline row with its ID (None: the same)."""
    import numpy as np

    c_keys, b_keys = _sort_keys(candidate.row_ids), _sort_keys(baseline.row_ids)
    if len(c_keys) == len(b_keys) and np.array_equal(c_keys, b_keys):
        # The usual case: both evaluated the same split in the same order.
        c_keys.sort()
        _require_unique(c_keys, candidate.source)
        return None
    c_order, b_order = _sort(c_keys), _sort(b_keys)
    _require_unique(c_keys, candidate.source)
    _require_unique(b_keys, baseline.source)
    if len(c_keys) != len(b_keys) or not np.array_equal(c_keys, b_keys):
        only_c = int(np.count_nonzero(~np.isin(c_keys, b_keys, assume_unique=True)))
        only_b = int(np.count_nonzero(~np.isin(b_keys, c_keys, assume_unique=True)))
        raise UsageError(
            "the two experiments were evaluated on different rows "
            f"({only_c} row(s) only in the candidate, {only_b} only in the baseline)",
            hint=SAME_ROWS_HINT,
        )
    del c_keys, b_keys
    order = np.empty(len(c_order), dtype=np.intp)
    order[c_order] = b_order
    return order


def _sort(keys: Any) -> Any:
    """Sort ``keys`` in place; returns the order that sorts them (as int32 when it fits)."""
    import numpy as np

    order = np.argsort(keys)
    if len(order) < 2**31:
        order = order.astype(np.int32)
    keys.sort()
    return order


def _sort_keys(row_ids: Any) -> Any:
    """The IDs as something that sorts and compares like their bytes, as fast as possible.

    IDs of at most 8 bytes (counters, short codes: the usual case) become big-endian
    uint64s, which numpy sorts several times faster than byte strings.
    """
    import numpy as np

    ids = id_array(row_ids)
    width = ids.dtype.itemsize
    if width > 8:
        return ids.copy()
    padded = np.zeros((len(ids), 8), dtype=np.uint8)
    padded[:, :width] = ids.view(np.uint8).reshape(len(ids), width)
    return padded.view(">u8").ravel()


def _close(a: Any, b: Any, block: int = 1 << 16) -> bool:
    """np.allclose(a, b, rtol=1e-9, atol=1e-9), a block at a time (no row-sized temporaries)."""
    import numpy as np

    if len(a) != len(b):
        return False
    return all(
        np.allclose(a[i : i + block], b[i : i + block], rtol=1e-9, atol=1e-9)
        for i in range(0, len(a), block)
    )


def _require_unique(sorted_ids: Any, source: str) -> None:
    if len(sorted_ids) > 1 and bool((sorted_ids[1:] == sorted_ids[:-1]).any()):
        raise UsageError(f"{source} repeats row_id values; predictions must have one row per id")
