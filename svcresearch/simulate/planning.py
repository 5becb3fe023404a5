"""The default study's planning inputs: its design for power analysis and its true codes for
parameter recovery. They live with the simulator because they read its parameters and its
behaviour names; :mod:`svcresearch.power` and :mod:`svcresearch.recovery` stay generic."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: The claim notebook 08 plans for on the default study (no published effect size: an assumption).
PLANNED_CLAIM = "phone_use"


def default_design(*, claim: str | None = None, effect: float | None = None) -> PowerDesign:
    """The default study's design for one of its binary behaviours (simulator parameters).

    Prevalence, applicability, response rate, the employee variance (service point + employee,
    nested), the outcome's thresholds and the coders' error rate (as a kappa) come from
    :data:`svcresearch.simulate.DEFAULT_PARAMETERS`; the effect defaults to the simulator's
    coefficient of the behaviour.
    """
    from svcresearch.power import PowerDesign, kappa_of_error_rate
    from svcresearch.simulate import DEFAULT_PARAMETERS as P

    claim = PLANNED_CLAIM if claim is None else claim

    b, lat = P["behaviour"], P["latent"]
    if claim not in lat["beta"] or claim not in b or isinstance(b[claim], dict):
        known = [k for k in lat["beta"] if k in b and not isinstance(b[k], dict)]
        raise ValueError(f"`claim` must be a binary behaviour of the default study ({', '.join(known)}); got {claim!r}.")
    applicable = {"eye_contact": 1 - P["structure"]["phone_share"], "apology": P["structure"]["failure_share"],
                  "explanation": P["structure"]["failure_share"], "referral": 1 - b["resolved"]}
    from svcresearch.simulate import study_truth

    # the outcome's marginal distribution in the default study (a large draw of its truth)
    sat = study_truth(n_encounters=20_000, seed=1)["sat_overall"]
    counts = np.bincount(sat, minlength=len(lat["thresholds"]) + 2)[1:]
    probs = tuple(float(c) for c in counts / counts.sum())
    prev = b[claim]
    e = P["coders"]["error_rates"].get(claim, 0.0)
    return PowerDesign(effect=float(lat["beta"][claim] if effect is None else effect), family="ordinal",
                       n_encounters=2400, n_employees=48, prevalence=prev,
                       applicable_share=applicable.get(claim, 1.0), response_rate=P["survey"]["response_rate"],
                       category_probabilities=probs,
                       group_sd=math.hypot(lat["sd_employee"], lat["sd_service_point"]),
                       propensity_sd=b["employee_propensity_sd"],
                       kappa=round(kappa_of_error_rate(e, prevalence=prev), 3),
                       double_coded_share=P["coders"]["coder_b_share"], behaviour=claim.replace("_", " "),
                       outcome="overall satisfaction", employees="employees")


def true_code_frame(encounters: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """The cleaned encounters with every coded behaviour replaced by its true value and status."""
    from svcresearch.simulate._model import BEHAVIOURS, SMILE_LEVELS
    from svcresearch.simulate._pseudo import true_codes

    idx = encounters["encounter_id"].astype("string").str.extract(r"(\d+)", expand=False).astype(int).to_numpy() - 1
    values, applicable = true_codes(truth, idx)
    out = encounters.copy()
    for b in BEHAVIOURS:
        app = applicable[b]
        if b == "smile":
            col = pd.Categorical(np.asarray(SMILE_LEVELS, dtype=object)[values[b]],
                                 categories=out[b].cat.categories if hasattr(out[b], "cat") else SMILE_LEVELS,
                                 ordered=getattr(out[b].dtype, "ordered", True))
            out[b] = col
            out.loc[~app, b] = np.nan
        else:
            out[b] = pd.array(np.where(app, values[b], False), dtype="boolean")
            out.loc[~app, b] = pd.NA
        status = f"{b}_status"
        cats = list(out[status].cat.categories) if status in out and hasattr(out[status], "cat") else \
            ["observed", "missing", "not_applicable"]
        out[status] = pd.Categorical(np.where(app, "observed", "not_applicable"), categories=cats)
    return out
