"""Benchmark: fit_mixed (random-intercept LMM, REML) vs R lme4::lmer and statsmodels MixedLM.

Run: ``.venv/bin/python benchmarks/bench_mixed.py [--rows N --groups G]``. R is timed inside R
with ``system.time(lmer(...))`` (CSV read excluded).
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

from svcresearch.models import fit_mixed

PREDICTORS = ["eye_contact", "greeting", "resolved", "empathy", "wait_min"]


def simulate(n: int, groups: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    X = np.column_stack([rng.random((n, 4)) < 0.6, rng.gamma(2.0, 2.0, n)])
    y = 4 + X @ np.array([0.3, 0.2, 0.6, 0.15, -0.05]) + rng.normal(0, 0.35, groups)[g] + rng.normal(0, 1, n)
    df = pd.DataFrame(X, columns=PREDICTORS)
    for c in PREDICTORS[:4]:
        df[c] = df[c].astype(bool)
    df.insert(0, "employee", [f"E{k:04d}" for k in g])
    df.insert(0, "sat_scale", y)
    return df


def run_r(csv: Path, formula: str):
    if shutil.which("Rscript") is None:
        return None
    script = f"""
suppressMessages(library(lme4))
d <- read.csv("{csv}")
for (v in c({", ".join(f'"{p}"' for p in PREDICTORS[:4])})) d[[v]] <- as.logical(d[[v]])
tm <- system.time(fit <- lmer({formula} + (1 | employee), data = d))
cat("TIME", tm[["elapsed"]], "\\n")
cf <- fixef(fit)
cat(paste("COEF", names(cf), format(cf, digits = 12)), sep = "\\n")
cat("LOGLIK", format(as.numeric(logLik(fit)), digits = 12), "\\n")
"""
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    t = float(next(line.split()[1] for line in lines if line.startswith("TIME")))
    coef = pd.Series({line.split()[1].replace("TRUE", "").replace("(Intercept)", "Intercept"):
                      float(line.split()[2]) for line in lines if line.startswith("COEF")})
    ll = float(next(line.split()[1] for line in lines if line.startswith("LOGLIK")))
    return t, coef, ll


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=1_000)
    args = ap.parse_args()
    df = simulate(args.rows, args.groups)
    formula = "sat_scale ~ " + " + ".join(PREDICTORS)
    fit_mixed(df.head(1000), formula, groups="employee")  # warm-up
    t0 = time.perf_counter()
    res = fit_mixed(df, formula, groups="employee")
    t_ours = time.perf_counter() - t0
    print(f"rows={args.rows:,} groups={args.groups:,} predictors={len(PREDICTORS)}")
    print(f"svcresearch fit_mixed:    {t_ours:8.3f} s  (REML loglik {res.loglik:.4f})")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bench_mixed.csv"
        df.to_csv(csv, index=False)
        r = run_r(csv, formula)
    ours = res.params.set_index("term")["estimate"]
    if r is not None:
        t_r, coef, ll = r
        d = np.max(np.abs(ours.loc[coef.index].to_numpy() - coef.to_numpy()))
        print(f"R lme4::lmer:             {t_r:8.3f} s  -> ours is {t_r / t_ours:6.1f}x faster; "
              f"max |estimate difference| {d:.2e}, |loglik difference| {abs(res.loglik - ll):.2e}")
    else:
        print("Rscript not found: R baseline skipped")
    import statsmodels.formula.api as smf
    t0 = time.perf_counter()
    sm_res = smf.mixedlm(formula, df, groups=df["employee"]).fit(reml=True)
    t_sm = time.perf_counter() - t0
    print(f"statsmodels MixedLM:      {t_sm:8.3f} s  -> ours is {t_sm / t_ours:6.1f}x faster")


if __name__ == "__main__":
    main()
