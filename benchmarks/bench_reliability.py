"""Benchmark: bootstrap CIs of inter-rater reliability, vectorised vs a naive loop.

Target (issue "Inter-rater reliability of the behaviour codes"): 2,000 bootstrap resamples of
10,000 units rated by 2 raters in under 2 s. Baseline in the same run: a Python loop that resamples
units and calls the ``krippendorff`` package once per resample -- run for fewer resamples and
extrapolated linearly to 2,000 (labelled as such).

Run: ``.venv/bin/python benchmarks/bench_reliability.py``
"""
from __future__ import annotations

import sys
import time

import krippendorff
import numpy as np

from svcresearch import reliability as rl

N_UNITS = 10_000
N_BOOT = 2_000
N_BASELINE = 40
TARGET_S = 2.0
K = dict(unit="unit", rater="rater", value="value")


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> int:
    data = rl.simulate_ratings(N_UNITS, prevalence=(0.7, 0.2, 0.1), accuracy=0.8, seed=1)
    print(f"data: {N_UNITS:,} units x 2 raters, 3 categories; B = {N_BOOT:,} resamples (best of 3)")

    t_alpha, res = best_of(lambda: rl.agreement_ci(data, method="krippendorff_alpha", n_boot=N_BOOT, seed=2, **K))
    print(f"ours  agreement_ci(krippendorff_alpha, B={N_BOOT}) incl. input checks: {t_alpha:.3f} s   "
          f"alpha = {res['estimate'].iloc[0]:.4f} [{res['ci_low'].iloc[0]:.4f}, {res['ci_high'].iloc[0]:.4f}]")
    t_all, _ = best_of(lambda: rl.bootstrap_estimates(
        data, methods=["percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1"],
        n_boot=N_BOOT, seed=2, **K))
    print(f"ours  bootstrap_estimates(4 coefficients, same resamples, B={N_BOOT}):  {t_all:.3f} s")
    t_ord, _ = best_of(lambda: rl.agreement_ci(data, method="krippendorff_alpha", level="ordinal",
                                               n_boot=N_BOOT, seed=2, **K))
    print(f"ours  agreement_ci(krippendorff_alpha, level='ordinal', B={N_BOOT}):   {t_ord:.3f} s")

    # Baseline: resample units in a loop and call the krippendorff package each time.
    wide = data.pivot(index="rater", columns="unit", values="value").to_numpy(dtype=float)
    rng = np.random.default_rng(2)
    t0 = time.perf_counter()
    base = []
    for _ in range(N_BASELINE):
        idx = rng.integers(0, N_UNITS, size=N_UNITS)
        base.append(krippendorff.alpha(wide[:, idx], level_of_measurement="nominal"))
    t_loop = time.perf_counter() - t0
    t_loop_full = t_loop / N_BASELINE * N_BOOT
    print(f"base  loop calling krippendorff.alpha: {N_BASELINE} resamples in {t_loop:.3f} s -> "
          f"EXTRAPOLATED to {N_BOOT}: {t_loop_full:.1f} s")
    point = krippendorff.alpha(wide, level_of_measurement="nominal")
    print(f"check point estimate: ours {res['estimate'].iloc[0]:.12f}  krippendorff {point:.12f}")
    print(f"ratio (baseline extrapolated / ours, nominal alpha): {t_loop_full / t_alpha:.0f}x")
    ok = t_alpha < TARGET_S and t_all < TARGET_S
    print(f"target < {TARGET_S:.0f} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
