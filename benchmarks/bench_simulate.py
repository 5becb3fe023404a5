"""Benchmark: simulate a 1,000,000-encounter study vs writing one comparable table with pyarrow.

The simulator writes ~10 files (operations, three coding sheets, two BORIS exports, two survey
files, ground truth) with fault bookkeeping; the baseline writes ONE table of the same number of
rows (the 16 columns of a coding sheet) with ``pyarrow.csv.write_csv`` alone. The ratio says how
many "plain CSV writes" a full study costs. Target: the simulation under 60 s on a 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [N]``
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from svcresearch.simulate import simulate_study


def baseline_table(n: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.char.add("ENC-", np.char.zfill(np.arange(1, n + 1).astype(str), 6))
    yn = np.array(["no", "yes"])
    cols = {"encounter_id": ids, "coder": np.full(n, "A"),
            "coded_at": np.datetime_as_string(np.datetime64("2026-03-02T08:00") + rng.integers(0, 10**5, n).astype("timedelta64[m]"))}
    for b in ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "explanation",
              "acknowledged_wait", "phone_use", "scripted", "upselling", "referral"]:
        cols[b] = yn[rng.integers(0, 2, n)]
    cols["coder_comment"] = np.where(rng.random(n) < 0.1, "asiakas kiireinen", "")
    return pa.table({k: pa.array(v) for k, v in cols.items()})


def main(n: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate_study(n_encounters=n, seed=20261122, out=Path(tmp) / "study")
        t_sim = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "study").rglob("*") if p.is_file())
        table = baseline_table(n)
        start = time.perf_counter()
        pacsv.write_csv(table, Path(tmp) / "baseline.csv")
        t_base = time.perf_counter() - start
        base_size = (Path(tmp) / "baseline.csv").stat().st_size
    print(f"simulate_study, {n:,} encounters: {t_sim:.1f} s ({size / 1e6:.0f} MB in 11 files)")
    print(f"baseline pyarrow.csv.write_csv, {n:,} rows x {table.num_columns} columns: {t_base:.2f} s "
          f"({base_size / 1e6:.0f} MB)")
    print(f"ratio simulate / baseline: {t_sim / t_base:.1f}x; MB/s simulate {size / 1e6 / t_sim:.1f}, "
          f"baseline {base_size / 1e6 / t_base:.1f}")
    print("target < 60 s:", "OK" if t_sim < 60 else "TOO SLOW")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
