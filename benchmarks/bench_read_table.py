"""Speed of svcresearch.io.read_table on a 1,000,000-row CSV against a bare pyarrow.csv.read_csv.

Run: .venv/bin/python benchmarks/bench_read_table.py [ROWS]
The baseline reads the same bytes with every column as string (the cheapest read that keeps the
originals), converted to pandas; read_table adds sniffing, line numbers and bookkeeping.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from svcresearch.io import read_table


def make(path: Path, n: int, *, decimal_comma: bool) -> None:
    rng = np.random.default_rng(1)
    wait = np.round(rng.exponential(3, n), 1).astype(str)
    df = pd.DataFrame({
        "encounter_id": [f"ENC-{i:06d}" for i in range(n)],
        "service_point": rng.choice(["SP01", "SP02", "SP03"], n),
        "employee_id": rng.choice(["E-00012", "e12", " 00012"], n),
        "channel": rng.choice(["face_to_face", "phone", "F2F"], n),
        "start_time": "2026-03-02 10:15",
        "wait_min": np.char.replace(wait, ".", ",") if decimal_comma else wait,
        "returning_customer": rng.choice(["yes", "no", "K", "Ei"], n),
        "duration_s": np.round(rng.exponential(120, n), 1).astype(str),
    })
    df.to_csv(path, index=False)  # decimal commas get quoted by the csv writer


def bare(path: Path) -> pd.DataFrame:
    with open(path, encoding="utf-8") as fh:  # header names, so that every column is read as string
        names = fh.readline().rstrip("\n").split(",")
    t = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                       convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}))
    return t.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def best(fn, path, reps=3):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        for label, dc in (("plain", False), ("quoted decimal commas", True)):
            path = Path(tmp) / f"bench_{dc}.csv"
            make(path, n, decimal_comma=dc)
            tb = best(bare, path)
            tr = best(read_table, path)
            size = path.stat().st_size / 1e6
            print(f"{n:,} rows, {size:.0f} MB, {label}: pyarrow.csv.read_csv {tb:.2f} s, "
                  f"read_table {tr:.2f} s, ratio {tr / tb:.2f}")


if __name__ == "__main__":
    main()
