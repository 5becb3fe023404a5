"""Benchmark: fit_ordinal (clm) on 1,000,000 rows x 8 binary predictors vs R clm and statsmodels.

Run: ``.venv/bin/python benchmarks/bench_ordinal.py [--rows N] [--no-statsmodels] [--continuous]``.
``--continuous`` makes x8 a continuous predictor (a waiting time), so identical rows cannot be
collapsed into frequency weights: the full-data Newton path is timed.
R's time is measured inside R with ``system.time(clm(...))`` after reading the CSV (read time
excluded); ours includes everything from the DataFrame (missing-value check, collapsing,
design matrix, Newton, SEs). Prints the times, the ratios, and the largest estimate difference.
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

PREDICTORS = [f"x{j}" for j in range(1, 9)]


def simulate(n: int, seed: int = 1, *, continuous: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = (rng.random((n, 8)) < rng.uniform(0.2, 0.8, 8)).astype(float)
    beta = np.linspace(-0.6, 0.8, 8)
    if continuous:
        X[:, 7] = rng.gamma(2.0, 2.0, n)  # minutes waited: right-skewed, every row distinct
        beta[7] = -0.1
    lat = X @ beta + rng.logistic(size=n)
    y = 1 + np.searchsorted(np.array([-1.0, 0.0, 1.0, 2.0]), lat)
    df = pd.DataFrame(X, columns=PREDICTORS)
    binary = PREDICTORS[:7] if continuous else PREDICTORS
    df[binary] = df[binary].astype(bool)
    df.insert(0, "y", y)
    return df


def run_r(csv: Path, formula: str, binary: list[str]) -> tuple[float, pd.Series] | None:
    if shutil.which("Rscript") is None:
        return None
    script = f"""
suppressMessages(library(ordinal))
d <- read.csv("{csv}")
d$y <- factor(d$y, ordered = TRUE)
for (v in c({", ".join(f'"{p}"' for p in binary)})) d[[v]] <- as.logical(d[[v]])
tm <- system.time(fit <- clm({formula}, data = d))
cat("TIME", tm[["elapsed"]], "\\n")
cf <- coef(fit)
cat(paste("COEF", names(cf), format(cf, digits = 12)), sep = "\\n")
"""
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True).stdout
    t = float(next(line.split()[1] for line in out.splitlines() if line.startswith("TIME")))
    coefs = {line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.startswith("COEF")}
    return t, pd.Series(coefs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-statsmodels", action="store_true")
    ap.add_argument("--continuous", action="store_true", help="x8 continuous: no row collapsing")
    args = ap.parse_args()
    df = simulate(args.rows, continuous=args.continuous)
    binary = [c for c in PREDICTORS if df[c].dtype == bool]
    formula = "y ~ " + " + ".join(PREDICTORS)
    fit_ordinal(df.head(5000), formula)  # warm-up (imports, formulaic caches)
    t0 = time.perf_counter()
    res = fit_ordinal(df, formula)
    t_ours = time.perf_counter() - t0
    print(f"rows={args.rows:,}  predictors: {len(binary)} binary, {8 - len(binary)} continuous  outcome 5 categories")
    print(f"svcresearch fit_ordinal: {t_ours:8.3f} s  (loglik {res.loglik:.4f})")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bench_ordinal.csv"
        df.to_csv(csv, index=False)
        r = run_r(csv, formula, binary)
    ours = res.params.set_index("term")["estimate"]
    if r is not None:
        t_r, coef_r = r
        coef_r.index = [c.replace("TRUE", "") for c in coef_r.index]
        diff = np.max(np.abs(ours.reindex(coef_r.index).to_numpy() - coef_r.to_numpy()))
        print(f"R ordinal::clm:          {t_r:8.3f} s  -> ours is {t_r / t_ours:6.1f}x faster; "
              f"max |estimate difference| = {diff:.2e}")
    else:
        print("Rscript not found: R baseline skipped")
    if not args.no_statsmodels:
        from statsmodels.miscmodels.ordinal_model import OrderedModel
        y = pd.Series(pd.Categorical(df["y"], ordered=True))
        t0 = time.perf_counter()
        sm_res = OrderedModel(y, df[PREDICTORS].astype(float), distr="logit").fit(method="bfgs", disp=False, maxiter=1000)
        t_sm = time.perf_counter() - t0
        diff = np.max(np.abs(sm_res.params[PREDICTORS].to_numpy() - ours[PREDICTORS].to_numpy()))
        print(f"statsmodels OrderedModel:{t_sm:8.3f} s  -> ours is {t_sm / t_ours:6.1f}x faster; "
              f"max |beta difference| = {diff:.2e}")


if __name__ == "__main__":
    main()
