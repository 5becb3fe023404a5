"""Benchmark: fit_ordinal(groups=...) (Laplace clmm) on 20,000 rows / 1,000 groups vs R clmm.

Run: ``.venv/bin/python benchmarks/bench_clmm.py [--rows N --groups G --nagq K]``.
R is timed inside R with ``system.time(clmm(...))`` (CSV read excluded). Prints times, the
ratio, and the largest difference of estimates, SEs, variance and log-likelihood (goal < 1e-3).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from svcresearch.models import fit_ordinal

PREDICTORS = ["eye_contact", "greeting", "resolved", "empathy"]


def simulate(n: int, groups: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    u = rng.normal(0, 0.7, groups)[g]
    X = rng.random((n, len(PREDICTORS))) < np.array([0.7, 0.8, 0.65, 0.5])
    lat = X @ np.array([0.5, 0.3, 0.9, 0.3]) + u + rng.logistic(size=n)
    y = 1 + np.searchsorted(np.array([-0.5, 0.5, 1.5, 2.5]), lat)
    df = pd.DataFrame(X, columns=PREDICTORS)
    df.insert(0, "employee", [f"E{k:04d}" for k in g])
    df.insert(0, "sat", y)
    return df


def run_r(csv: Path, formula: str, nagq: int):
    if shutil.which("Rscript") is None:
        return None
    script = f"""
suppressMessages(library(ordinal))
d <- read.csv("{csv}")
d$sat <- factor(d$sat, ordered = TRUE); d$employee <- factor(d$employee)
for (v in c({", ".join(f'"{p}"' for p in PREDICTORS)})) d[[v]] <- as.logical(d[[v]])
tm <- system.time(fit <- clmm({formula} + (1 | employee), data = d, nAGQ = {nagq}))
cat("TIME", tm[["elapsed"]], "\\n")
cf <- summary(fit)$coefficients
cat(paste("COEF", rownames(cf), format(cf[, 1], digits = 12), format(cf[, 2], digits = 12)), sep = "\\n")
cat("VAR", VarCorr(fit)$employee[1, 1], "\\n")
cat("LOGLIK", format(as.numeric(logLik(fit)), digits = 12), "\\n")
"""
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    t = float(next(line.split()[1] for line in lines if line.startswith("TIME")))
    coef = pd.DataFrame([line.split()[1:] for line in lines if line.startswith("COEF")],
                        columns=["term", "estimate", "std_error"]).set_index("term").astype(float)
    coef.index = [c.replace("TRUE", "") for c in coef.index]
    var = float(next(line.split()[1] for line in lines if line.startswith("VAR")))
    ll = float(next(line.split()[1] for line in lines if line.startswith("LOGLIK")))
    return t, coef, var, ll


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--groups", type=int, default=1_000)
    ap.add_argument("--nagq", type=int, default=1)
    args = ap.parse_args()
    df = simulate(args.rows, args.groups)
    formula = "sat ~ " + " + ".join(PREDICTORS)
    fit_ordinal(df.head(2000), formula, groups="employee")  # warm-up
    t0 = time.perf_counter()
    res = fit_ordinal(df, formula, groups="employee", nagq=args.nagq)
    t_ours = time.perf_counter() - t0
    print(f"rows={args.rows:,} groups={args.groups:,} predictors={len(PREDICTORS)} binary nagq={args.nagq}")
    print(f"svcresearch fit_ordinal(groups=): {t_ours:8.3f} s  (loglik {res.loglik:.4f}, "
          f"variance {res.variance_components['variance'].iloc[0]:.5f})")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bench_clmm.csv"
        df.to_csv(csv, index=False)
        r = run_r(csv, formula, args.nagq)
    if r is None:
        print("Rscript not found: R baseline skipped")
        return
    t_r, coef, var, ll = r
    ours = res.params.set_index("term").loc[coef.index]
    d_est = np.max(np.abs(ours["estimate"] - coef["estimate"]))
    d_se = np.max(np.abs(ours["std_error"] - coef["std_error"]))
    d_var = abs(res.variance_components["variance"].iloc[0] - var)
    print(f"R ordinal::clmm:                  {t_r:8.3f} s  -> ours is {t_r / t_ours:6.1f}x faster")
    print(f"max |difference|: estimates {d_est:.2e}, SEs {d_se:.2e}, variance {d_var:.2e}, "
          f"loglik {abs(res.loglik - ll):.2e}  (agree to 1e-3: "
          f"{max(d_est, d_se, d_var, abs(res.loglik - ll)) < 1e-3})")


if __name__ == "__main__":
    main()
