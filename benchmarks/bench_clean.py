"""Benchmark: clean a simulated study of N encounters (default 1,000,000) against a bare pyarrow read.

Goals (issue "Clean coded interaction logs"): cleaning within 3x the time of reading the same raw
files with pyarrow alone, and peak memory under 4 GB. Each measurement runs in its own child
process so that ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is that step's peak RSS.

Run:  .venv/bin/python benchmarks/bench_clean.py [--encounters 1000000] [--seed 1] [--keep DIR]
Results are printed and written to benchmarks/results/bench_clean.json (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BARE_READ = r"""
import sys, time, resource
from pathlib import Path
import yaml, pyarrow.csv as pacsv, pyreadstat, openpyxl
raw = Path(sys.argv[1])
spec = yaml.safe_load((raw / "study.yaml").read_text())
t = time.perf_counter()
rows = 0
for f in spec["files"]:
    p = raw / f["path"]
    ext = p.suffix.lower()
    if ext in (".csv", ".tsv", ".txt"):
        head = p.read_bytes()[:4096].decode("utf-8", "replace")
        sep = "\t" if ext == ".tsv" else (";" if head.count(";") > head.count(",") else ",")
        enc = "utf8"
        try:
            p.read_bytes()[:1 << 20].decode("utf-8")
        except UnicodeDecodeError:
            enc = "cp1252"
        # BORIS tabular files have a metadata block; every column read as string
        opts = pacsv.ReadOptions(encoding=enc)
        tab = pacsv.read_csv(p, read_options=opts, parse_options=pacsv.ParseOptions(delimiter=sep,
                             invalid_row_handler=lambda r: "skip"),
                             convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        rows += tab.num_rows
    elif ext == ".xlsx":
        wb = openpyxl.load_workbook(p, read_only=True)
        for ws in wb.worksheets:
            rows += sum(1 for _ in ws.iter_rows(values_only=True))
    elif ext == ".sav":
        df, meta = pyreadstat.read_sav(str(p))
        rows += len(df)
print(time.perf_counter() - t, rows)
"""

_CLEAN = r"""
import os, sys, time
os.environ.setdefault("SVCRESEARCH_KEY", "benchmark-key-0123456789")
from svcresearch.clean import clean_study
t = time.perf_counter()
rep = clean_study(sys.argv[1], out=sys.argv[2], progress=True)
print(time.perf_counter() - t, rep["totals"]["read"])
"""


def _child(code: str, *args: str) -> tuple[float, str, float]:
    """Run ``code`` in a fresh interpreter; return (wall seconds, stdout, peak RSS in GB)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         cwd=ROOT)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children (kB on Linux): run the
    # smaller step first so the larger one's peak is what we read
    return wall, out.stdout.strip(), max(peak, before) / 1024 / 1024


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the simulated study here")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench_clean_"))
    raw = args.keep or tmp / "raw"
    if not (raw / "study.yaml").exists():
        t = time.perf_counter()
        from svcresearch.simulate import simulate_study

        simulate_study(n_encounters=args.encounters, seed=args.seed, out=raw, progress=True)
        print(f"simulated {args.encounters:,} encounters in {time.perf_counter() - t:.1f} s -> {raw}")
    size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6
    # bare pyarrow read first (small peak), then clean (the peak we report is the clean's)
    _, out_read, peak_read = _child(_BARE_READ, str(raw))
    t_read, rows_read = (float(x) for x in out_read.split()[-2:])
    _, out_clean, peak_clean = _child(_CLEAN, str(raw), str(tmp / "processed"))
    t_clean, records = (float(x) for x in out_clean.splitlines()[-1].split())
    result = {
        "encounters": args.encounters, "raw_megabytes": round(size, 1),
        "bare_read_s": round(t_read, 2), "bare_read_rows": int(rows_read), "bare_read_peak_gb": round(peak_read, 2),
        "clean_s": round(t_clean, 2), "clean_records": int(records), "clean_peak_gb": round(peak_clean, 2),
        "ratio_clean_to_read": round(t_clean / t_read, 2),
        "goal_ratio": 3.0, "goal_peak_gb": 4.0,
    }
    print(json.dumps(result, indent=2))
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "bench_clean.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
