"""Benchmark: one simulated power point (200 replications of the default design) on 2 processes.

The power point is :func:`svcresearch.power.simulated_power` for the default study's phone-use
claim (2,400 encounters, 48 employees, 70% response, coder kappa .77, 30% double-coded): 200
simulated studies, each fitted with the ordinal mixed model ``fit_ordinal(..., groups=...)``
(validated against R ``clmm``). Baseline in the same run: the same 200 data sets fitted with the
ordinal model WITHOUT the random intercept (``fit_ordinal`` clm), i.e. the cost of the mixed
model. Target: the power point under 60 s on a 2-core machine. The load average is printed:
on a machine shared with other jobs the wall time grows with it.

Run: ``.venv/bin/python benchmarks/bench_power.py [REPLICATIONS]``
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from svcresearch.models import fit_ordinal
from svcresearch.power import default_design, simulate_planned, simulated_power


def main(replications: int = 200) -> None:
    design = default_design()
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    point = simulated_power(design, n_replications=replications, seed=1, n_jobs=2)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    for seed in range(1, 1 + min(replications, 50)):
        fit_ordinal(simulate_planned(design, seed=seed), "y ~ x")
    clm = (time.perf_counter() - start) / min(replications, 50) * replications / 2
    load1 = os.getloadavg()[0]
    result = {"replications": replications, "wall_s": round(wall, 2), "per_replication_s": round(wall / replications, 3),
              "baseline_clm_wall_s_2proc_equiv": round(clm, 2), "ratio_vs_clm": round(wall / clm, 1),
              "power": round(point["power"], 3), "power_mc_se": round(point["power_mc_se"], 3),
              "analytic_power": round(point["analytic_power"], 3), "load_average_before_after": [load0, load1],
              "cpus": os.cpu_count(), "target_s": 60, "met": wall < 60}
    print(json.dumps(result, indent=1))
    out = Path(__file__).resolve().parent / "results" / "bench_power.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
