"""Speed of svcresearch.events on 100,000 observations (1,000,000 events).

Run: .venv/bin/python benchmarks/bench_events.py [N_OBSERVATIONS]
Baseline in the same run: the cheapest pandas group-by that computes only counts and summed
durations per observation × behaviour (a lower bound for any feature table of this size).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from svcresearch.events import event_features, validate_events


def make(n_obs: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = np.array(["greeting", "eye contact", "eye contact", "eye contact", "smile", "smile", "nod", "nod",
                     "eye contact", "greeting"], dtype=object)
    obs = np.repeat(np.array([f"ENC-{i:06d}" for i in range(n_obs)], dtype=object), len(plan))
    k = len(obs)
    beh = np.tile(plan, n_obs)
    kind = np.where(np.isin(beh, ["eye contact", "smile"]), "STATE", "POINT")
    start = np.tile(np.arange(len(plan)), n_obs) * 12.0 + rng.uniform(0, 5, k)
    stop = np.where(kind == "STATE", start + rng.uniform(0, 6, k), start)
    return pd.DataFrame({
        "observation_id": obs, "subject": "employee", "behavior": beh, "behavior_type": kind,
        "start_s": start, "stop_s": stop, "duration_s": np.where(kind == "STATE", stop - start, np.nan),
        "modifiers": np.where(beh == "smile", rng.choice(["genuine", "polite", ""], k), ""),
        "observation_duration_s": 130.0, "source_file": "bench.tsv", "source_row": np.arange(k) + 2,
    }).astype({"observation_id": "string", "behavior": "string", "behavior_type": "string",
               "modifiers": "string", "subject": "string", "source_file": "string"})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    ev = make(n)
    t0 = time.perf_counter()
    base = ev.assign(d=ev["stop_s"] - ev["start_s"]).groupby(["observation_id", "behavior"]).agg(
        n=("d", "size"), d=("d", "sum")).unstack()
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    valid, quarantine = validate_events(ev)
    t_val = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = event_features(valid)
    t_feat = time.perf_counter() - t0
    print(f"{n:,} observations, {len(ev):,} events: baseline groupby {t_base:.2f} s; "
          f"validate_events {t_val:.2f} s ({t_val / t_base:.1f}x); event_features {t_feat:.2f} s "
          f"({t_feat / t_base:.1f}x; includes its own validation); {feats.shape[1]} feature columns, "
          f"{len(quarantine)} quarantined; baseline shape {base.shape}")


if __name__ == "__main__":
    main()
