"""Cost of the misclassification correction on the default study, and its recovery over replications.

Two modes:

``python benchmarks/bench_simex.py [--processed DIR] [--n-sim 50]``
    Times, in the same run, the naive fit of the default study's main model (the baseline) and
    the full correction (misclassification matrices with bootstrap + consensus + MC-SIMEX),
    prints the side-by-side table and writes ``benchmarks/results/bench_simex.json``.
    Goal: the correction under 2 minutes. Needs the cleaned default study (``svcresearch clean
    --raw data/raw --out DIR``; default ``data/processed``).

``python benchmarks/bench_simex.py --recovery 500 [--workers 2] [--n-sim 20] [--mixed]``
    Replicated default designs (2,400 encounters, the simulator's coder error for coders A and
    B, 30% double coding, 30% survey nonresponse), generated in memory with the simulator's own
    functions (``simulate_truth`` and the coding-sheet error model), without writing or cleaning
    files. Per replication: the main model fitted on the true codes (its mean over replications
    is the pseudo-true value the model targets, DESIGN §7), on coder A's codes (naive, the
    primary analysis) and corrected (MC-SIMEX with both coders). Without ``--mixed`` the model is
    the main model's cumulative logit without the employee intercept (``clm``), because the
    ordinal mixed model costs ~30 s per corrected replication on this machine; the SIMEX code is
    the same (only the refitter differs, and ``tests/test_misclassification.py`` checks that the
    mixed refitter equals ``fit_ordinal``). Writes ``benchmarks/results/simex_recovery.csv``
    (one row per replication and term) and prints the table: bias and coverage of naive and
    corrected estimates against the pseudo-true value, with Monte Carlo SEs.

This is a minimal replication loop of its own: the replication runner of ``svcresearch.power``
(issue 12) did not exist when it was written.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
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


# ----------------------------------------------------------------------------------------------
# replications
# ----------------------------------------------------------------------------------------------
def _replicate(seed: int, n: int = 2400):
    """Encounters (true codes and coder A's) and coding_long of one default design, in memory."""
    from svcresearch.simulate import DEFAULT_PARAMETERS, simulate_truth
    from svcresearch.simulate import _study as ST
    from svcresearch.simulate._model import BEHAVIOURS, SMILE_LEVELS

    params = DEFAULT_PARAMETERS
    ss = np.random.SeedSequence(seed)
    r_truth, r_a, r_b, r_sel, r_resp = [np.random.default_rng(s) for s in ss.spawn(5)]
    t = simulate_truth(n, r_truth, params)
    c = params["coders"]
    rates = dict(c["error_rates"], _smile_adjacent=c["smile_confusion_adjacent"], _comment_share=0.0)
    idx = np.arange(n)
    codes_a = ST.coded_values(t, idx, r_a, rates)
    b_idx = np.flatnonzero(r_sel.random(n) < c["coder_b_share"])
    codes_b = ST.coded_values(t, b_idx, r_b, rates, c["coder_b_drift"] * b_idx / max(1, n - 1))
    ids = np.array([f"ENC-{i + 1:06d}" for i in range(n)])
    responded = r_resp.random(n) < params["survey"]["response_rate"]
    base = pd.DataFrame({
        "encounter_id": ids, "employee": pd.Series([f"E{e:03d}" for e in t["employee"]], dtype="string"),
        "channel": pd.Categorical(np.where(t["channel_phone"], "phone", "face_to_face"),
                                  categories=["face_to_face", "phone"]),
        "wait_min": t["wait_min"], "returning_customer": pd.array(t["returning_customer"], dtype="boolean"),
        "service_failure": pd.array(t["service_failure"], dtype="boolean"),
        "sat_overall": pd.array(np.where(responded, t["sat_overall"], 0), dtype="Int64"),
    })
    base.loc[~responded, "sat_overall"] = pd.NA
    long = []

    def coded_frame(codes, rows):
        out = {}
        for b in BEHAVIOURS:
            v = pd.Series(codes[b]).astype(str)
            obs = ~v.isin(["", "NA"])
            levels = SMILE_LEVELS if b == "smile" else ["no", "yes"]
            if b == "smile":
                val = pd.Categorical(v.where(obs), categories=levels, ordered=True)
            else:
                val = pd.array(np.where(obs, v.eq("yes"), False), dtype="boolean")
                val[~obs.to_numpy()] = pd.NA
            out[b] = val
            out[f"{b}_status"] = pd.Categorical(np.where(obs, "observed", "not_applicable"),
                                                categories=["observed", "missing", "not_applicable"])
        return pd.DataFrame(out, index=rows)

    A = coded_frame(codes_a, idx)
    B = coded_frame(codes_b, b_idx)
    for coder, frame, rows in (("A", A, idx), ("B", B, b_idx)):
        for b in BEHAVIOURS:
            v = frame[b].astype("string") if b == "smile" else frame[b].map({True: "yes", False: "no"}).astype("string")
            long.append(pd.DataFrame({"encounter_id": ids[rows], "coder": coder, "behaviour": b,
                                      "value": v.to_numpy(), "status": frame[f"{b}_status"].astype(str).to_numpy()}))
    coding_long = pd.concat(long, ignore_index=True)
    naive = pd.concat([base, A.reset_index(drop=True)], axis=1)
    true = base.copy()
    for b in BEHAVIOURS:
        vals = t[b]
        app = A[f"{b}_status"].astype(str).eq("observed").to_numpy()
        if b == "referral":   # applicability follows the coder's resolved code; truth where it applies
            app = A["referral_status"].astype(str).eq("observed").to_numpy()
        if b == "smile":
            true[b] = pd.Categorical(np.asarray(SMILE_LEVELS, dtype=object)[vals], categories=SMILE_LEVELS, ordered=True)
            true.loc[~app, b] = np.nan
        else:
            arr = pd.array(vals.astype(bool), dtype="boolean")
            arr[~app] = pd.NA
            true[b] = arr
        true[f"{b}_status"] = A[f"{b}_status"].to_numpy()
    return true, naive, coding_long


def _one(args):
    seed, n_sim, mixed = args
    from svcresearch.codebook import load_codebook
    from svcresearch.hypotheses import load_hypotheses
    from svcresearch import modelframe as mfm
    from svcresearch.misclassification import estimate_misclassification
    from svcresearch.simex import mcsimex

    raw = ROOT / "svcresearch" / "simulate" / "resources"
    cb = load_codebook(raw / "codebook.yaml")
    hyp = load_hypotheses(raw / "hypotheses.yaml", codebook=cb)
    groups = hyp.model.groups if mixed else None
    terms = list(hyp.model.terms)
    true, naive, coding = _replicate(seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {}
        for name, d in (("true", true), ("naive", naive)):
            f = mfm.model_frame(d, codebook=cb, outcome=hyp.model.outcome, terms=terms, groups=groups).fit()
            fits[name] = f.coefficients().set_index("term") if f.result is not None else None
        mc = estimate_misclassification(coding, codebook=cb, n_boot=100, seed=seed)
        try:
            sim = mcsimex(naive, codebook=cb, outcome=hyp.model.outcome, terms=terms, groups=groups,
                          misclassification=mc, coding_long=coding, n_sim=n_sim, n_variance=3, seed=seed)
            corr = sim.params.set_index("term")
        except ValueError:
            corr = None
    if fits["true"] is None or fits["naive"] is None or corr is None:
        return []
    for t in corr.index:
        rows.append({"seed": seed, "term": t, "true_fit": fits["true"].loc[t, "estimate"] if t in fits["true"].index else np.nan,
                     "naive": fits["naive"].loc[t, "estimate"], "naive_low": fits["naive"].loc[t, "ci_low"],
                     "naive_high": fits["naive"].loc[t, "ci_high"], "corrected": corr.loc[t, "estimate"],
                     "corrected_low": corr.loc[t, "ci_low"], "corrected_high": corr.loc[t, "ci_high"]})
    return rows


def summarise(res: pd.DataFrame) -> pd.DataFrame:
    out = []
    for t, g in res.groupby("term", sort=False):
        pt = g["true_fit"].mean()
        R = len(g)
        row = {"term": t, "reps": R, "pseudo_true": pt}
        for m in ("naive", "corrected"):
            est = g[m]
            cover = ((g[f"{m}_low"] <= pt) & (pt <= g[f"{m}_high"])).mean()
            row |= {f"bias_{m}": est.mean() - pt, f"mcse_{m}": est.std(ddof=1) / math.sqrt(R),
                    f"ratio_{m}": est.mean() / pt if abs(pt) > 1e-9 else np.nan,
                    f"coverage_{m}": cover}
        row["bias_ok"] = abs(row["bias_corrected"]) < row["mcse_corrected"] + 0.02
        row["coverage_ok"] = 0.93 <= row["coverage_corrected"] <= 0.97
        out.append(row)
    return pd.DataFrame(out)


def recovery(n_reps: int, workers: int, n_sim: int, mixed: bool, seed0: int, out: Path) -> pd.DataFrame:
    seeds = [seed0 + i for i in range(n_reps)]
    done = pd.read_csv(out) if out.exists() else pd.DataFrame()
    if len(done):
        seeds = [s for s in seeds if s not in set(done["seed"])]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, rows in enumerate(pool.map(_one, [(s, n_sim, mixed) for s in seeds], chunksize=1), start=1):
            if rows:
                pd.DataFrame(rows).to_csv(out, mode="a", header=not out.exists(), index=False)
            if i % 10 == 0:
                print(f"{i}/{len(seeds)} replications, {time.perf_counter() - t0:.0f} s", flush=True)
    res = pd.read_csv(out)
    table = summarise(res)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(3).to_string(index=False))
    table.to_csv(out.with_name(out.stem + "_summary.csv"), index=False)
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--processed", type=Path, default=ROOT / "data" / "processed")
    ap.add_argument("--n-sim", type=int, default=None, help="simulations per lambda (default 50; 20 for --recovery)")
    ap.add_argument("--recovery", type=int, default=0, help="number of replications (0 = benchmark only)")
    ap.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--mixed", action="store_true", help="replications with the employee random intercept")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "simex_recovery.csv")
    args = ap.parse_args(argv)
    if args.recovery:
        RESULTS.mkdir(parents=True, exist_ok=True)
        recovery(args.recovery, args.workers, args.n_sim or 20, args.mixed, args.seed, args.out)
    else:
        bench(args.processed, args.n_sim or 50)


if __name__ == "__main__":
    main()
