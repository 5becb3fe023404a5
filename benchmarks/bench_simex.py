"""Cost of the misclassification correction on the default study.

``python benchmarks/bench_simex.py [--processed DIR] [--n-sim 50]``
    Times, in the same run, the naive fit of the default study's main model (the baseline) and
    the full correction (misclassification matrices with bootstrap + consensus + MC-SIMEX),
    prints the side-by-side table and writes ``benchmarks/results/bench_simex.json``.
    Goal: the correction under 2 minutes. Needs the cleaned default study (``svcresearch clean
    --raw data/raw --out DIR``; default ``data/processed``).

Whether the corrected estimates are unbiased and their intervals honest is measured over
replicated studies by the replication runner, not here: ``make correction-recovery``
(:func:`svcresearch.recovery.correction_recovery`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


# ----------------------------------------------------------------------------------------------
# the default study
# ----------------------------------------------------------------------------------------------
def bench(processed: Path, n_sim: int) -> dict:
    from svcresearch.codebook import load_codebook
    from svcresearch.hypotheses import load_hypotheses
    from svcresearch import modelframe as mfm
    from svcresearch.simex import corrected_estimates

    raw = ROOT / "data" / "raw"
    cb = load_codebook(raw / "codebook.yaml")
    hyp = load_hypotheses(raw / "hypotheses.yaml", codebook=cb)
    data = pd.read_parquet(processed / "encounters.parquet")
    coding = pd.read_parquet(processed / "coding_long.parquet")
    t0 = time.perf_counter()
    frame = mfm.model_frame(data, codebook=cb, outcome=hyp.model.outcome, terms=list(hyp.model.terms),
                            groups=hyp.model.groups)
    frame.fit()
    naive_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = corrected_estimates(data, coding, codebook=cb, model=hyp, n_sim=n_sim)
    corrected_s = time.perf_counter() - t0
    truth = json.loads((raw / "ground_truth.json").read_text())["model_terms"]
    table["true_value"] = table["term"].map(truth)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[["term", "estimate_naive", "ci_low_naive", "ci_high_naive", "estimate_corrected",
                     "ci_low_corrected", "ci_high_corrected", "true_value", "reliability"]].round(3).to_string(index=False))
    out = {"n_encounters": int(len(data)), "n_rows_model": int(frame.n_used), "n_sim": n_sim,
           "naive_fit_s": round(naive_s, 2), "correction_s": round(corrected_s, 2),
           "ratio_correction_to_naive": round(corrected_s / naive_s, 1), "goal_s": 120}
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_simex.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--processed", type=Path, default=ROOT / "data" / "processed")
    ap.add_argument("--n-sim", type=int, default=50, help="simulations per lambda")
    args = ap.parse_args(argv)
    bench(args.processed, args.n_sim)


if __name__ == "__main__":
    main()
