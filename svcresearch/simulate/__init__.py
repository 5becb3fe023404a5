r"""Simulate a complete raw study of coded service encounters with known truth (DESIGN.md §3).

No public dataset of coded service encounters exists, so the toolkit ships a simulated study that
looks and misbehaves like field data and whose true effects are known (a validation set for the
cleaner and the models). ``svcresearch simulate --encounters N --seed S --out DIR`` calls
:func:`simulate_study`, which writes the files of ``docs/study_layout.md``.

We wrote our own generator because no library simulates *coded encounter logs with survey
outcomes*; the file writers are our own because the same seed must give byte-identical files
(openpyxl and ReadStat stamp the save time into xlsx/sav files, see ``_writers``).

The generative model (one model; every number is a key of :data:`DEFAULT_PARAMETERS`)
--------------------------------------------------------------------------------------
Structure. ``J = max(8, round(N/50))`` employees nested in ``K = max(8, round(8*sqrt(N/2400)))``
service points (employee ``j`` works at point ``j mod K``). Encounter ``i`` gets a uniformly drawn
employee, a start time on a weekday 08:00–17:59 (encounter ids follow time order), channel
phone with probability .30 (else face to face), returning customer (.40), service failure (.15),
waiting time ``wait_min ~ LogNormal(log 3, 0.8)`` minutes (right-skewed, rounded to 0.1) and a
log-normal duration (longer after failures).

Behaviours (true values). For each binary behaviour ``B``:
``P(B_i = 1) = logistic(logit(p_B) + v_{B,j(i)})`` with an employee propensity
``v_{B,j} ~ N(0, 0.5^2)``. Smile is ordinal none < polite < genuine, drawn from an ordered
logit with an employee warmth shift (marginal .35/.40/.25). Applicability (codebook rules):
eye contact and smile only face to face (**not applicable** on the phone); apology and
explanation only after a failure; acknowledged_wait only when ``wait_min >= 2``; referral only
when not resolved. A non-applicable behaviour enters the equations as 0.

Mediator (H11). ``m_i = 4.4 + 0.40 polite_i + 0.90 genuine_i + N(0, 1.1^2)``;
``felt_valued = clip(round(m), 1, 7)``.

Latent satisfaction.

.. math::

   y^*_i = x_i'\beta + b\,(m_i - 4.4) + u_{k(i)} + u_{j(i)} + \varepsilon_i,\quad
   u_k \sim N(0, 0.25^2),\ u_j \sim N(0, 0.50^2),\ \varepsilon_i \sim \mathrm{Logistic}(0, 1)

with ``b = 0.35`` and the terms and values of ``DEFAULT_PARAMETERS["latent"]["beta"]``:
eye_contact .45 (H1), greeting .35 (H2), smile[polite] .15 / smile[genuine] .35 direct (H3;
totals incl. the mediated part .29 / .665), resolved 1.0, empathy .40, resolved:empathy .50 (H4),
wait_min −.12 per minute, acknowledged_wait .10, wait_min:acknowledged_wait .04 (H5, small),
apology .50 vs explanation .15 (H6), phone_use −.40, scripted −.25, upselling −.30 (H7),
service_failure −1.40, returning_customer .20, service_failure:returning_customer .50 (H8),
referral 0 (H12, truly null), channel[phone] .50 (nuisance). H9 (negativity):
``|β_failure| − β_resolved = 0.40 > 0``. H10: latent employee ICC
``σ_j² / (σ_j² + σ_k² + π²/3) = .069``. Sizes are anchored where DESIGN §2 names a source
(Barger & Grandey 2006, Otterbring 2017, Hennig-Thurau et al. 2006 for smile; Victorino et al.
2013 for scripting; Pruyn & Smidts 1998 for waiting; employee ICC .03–.10); all other sizes are
assumptions and ground_truth.json flags them ``"assumption": true``.

Outcomes. ``sat_overall = 1 + #{τ_c < y*}`` with cut-points τ = (−2.5, −1.2, 0.3, 2.2) giving a
negatively skewed ceiling distribution (about .04/.07/.19/.35/.35; Peterson & Wilson 1992).
Three 1–7 items ``sat_k = cut(y* + N(0, 1.35^2), τ7)`` (Cronbach's alpha ≈ .85).
``tell_others ~ Bernoulli(logistic(−0.6 + 0.55 (y* − mean τ)))``,
``post_online ~ Bernoulli(logistic(−2.6 + 0.45 |y* − mean τ|))`` (extremes post).

Observation. Survey response is missing completely at random (70% respond); face-to-face
respondents answer on paper (.45) or the web, phone customers on the web. Coder A codes every
encounter, coder B a random 30%. A coder records the wrong value with a behaviour-specific
probability (``coders.error_rates``: greeting .013 … smile .09); coder B's rate grows linearly
over the study, ``rate·(1 + 0.5 t)``, t ∈ [0, 1] (drift). 80% of smile errors are adjacent
(polite↔genuine, none→polite). Coders apply the codebook's applicability rules to what they
observe: referral is coded exactly when the coder coded resolved = no. A video subsample (10% of face-to-face encounters) has BORIS
events consistent with the true behaviours: eye contact STATE bouts (several when eye contact
was made), smile STATE bouts with modifier polite/genuine, greeting POINT after a few seconds,
nod POINT when the waiting customer was acknowledged; half the observations are exported in the
v8.22.17+/v9 aggregated layout, half in the v8.9.11+ tabular layout (headers copied from real
BORIS exports).

Faults. Every file gets faults at the rates of :data:`DEFAULT_FAULT_RATES`; each injected cell
or row is listed in ``ground_truth.json`` (file row numbers as a spreadsheet shows them: 1-based,
counting note and header rows; ``.sav`` rows are SPSS case numbers) with its expected
``handling`` (``normalise``, ``normalise:missing``, ``merge``, ``drop_pii`` or
``quarantine:<reason>``). At most one fault touches a cell, and duplicate source rows are left
clean, so every quarantined cell has exactly one explanation.

Targets. ``ground_truth.json``'s ``hypotheses`` (what ``run_hypotheses`` reports as
``true_value``) holds the PSEUDO-TRUE value of every hypotheses row: the model's large-n limit
with true codes (:mod:`svcresearch.simulate._pseudo`), next to ``hypotheses_generative`` and
``hypotheses_pseudo_true_coded``. H11 (a·b) is estimated on the observed, rounded and clipped
``felt_valued``, so its target is not ``a_genuine * felt_valued_slope``; H12 is truly null with
true codes, but coders code referral only where they coded resolved = no, so with coded
behaviours its limit is not zero (``targets_note`` says this in the file).

Randomness. ``np.random.SeedSequence(seed).spawn`` gives independent streams for the truth and
for each file, so changing a fault rate never changes the true data.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from svcresearch._validation import InputError, check_number, check_type
from svcresearch.simulate import _study as ST
from svcresearch.simulate._model import (BEHAVIOURS, DEFAULT_PARAMETERS, derived_quantities, design_matrix,
                                         hypothesis_truths, merge_parameters, model_term_truths,
                                         simulate_truth, true_effects)
from svcresearch.simulate._study import DEFAULT_FAULT_RATES
from svcresearch.simulate._writers import write_delimited, write_sav, write_xlsx

__all__ = ["simulate_study", "study_truth", "simulate_truth", "design_matrix", "DEFAULT_PARAMETERS", "DEFAULT_FAULT_RATES",
           "STUDY_FILES"]

_CODEBOOK = Path(__file__).resolve().parent / "resources" / "codebook.yaml"
#: The default study's claims H1-H12 (its pre-registration), written next to its data.
_HYPOTHESES = Path(__file__).resolve().parent / "resources" / "hypotheses.yaml"

#: Every file simulate_study writes (relative to ``out``).
STUDY_FILES = ["study.yaml", "codebook.yaml", "hypotheses.yaml", "ground_truth.json", "operations.csv", "coding_coder_A.csv",
               "coding_coder_A_SP01.xlsx", "coding_coder_B.csv", "boris/video_aggregated.tsv",
               "boris/video_tabular.csv", "survey_paper.sav", "survey_web.csv"]
PILOT_CAP = 2000


def _fault_rates(overrides):
    rates = dict(DEFAULT_FAULT_RATES)
    if overrides is None:
        return rates
    check_type("fault_rates", overrides, dict)
    for key, value in overrides.items():
        if key not in rates:
            raise ValueError(f"`fault_rates` has no key {key!r}; known keys: {', '.join(map(repr, rates))}.")
        check_number(f"fault_rates[{key!r}]", value, low=0.0, high=0.5)
        rates[key] = float(value)
    return rates


def simulate_study(*, n_encounters: int = 2400, seed: int = 20261122, out, overwrite: bool = False,
                   progress: bool = False, parameters: dict | None = None,
                   fault_rates: dict | None = None) -> dict:
    """Write a complete simulated raw study (layout of ``docs/study_layout.md``) to ``out``.

    Parameters
    ----------
    n_encounters : int
        Number of encounters (100 to 10,000,000).
    seed : int
        Random seed (>= 0). The same seed and arguments give byte-identical files.
    out : path
        Output folder; created if missing. Must be empty unless ``overwrite``.
    overwrite : bool
        Overwrite the simulator's files in a non-empty ``out`` (other files are left alone).
    progress : bool
        Show a progress bar (tqdm).
    parameters : dict, optional
        Overrides of :data:`DEFAULT_PARAMETERS` (nested keys, e.g. ``{"survey": {"response_rate": .5}}``).
    fault_rates : dict, optional
        Overrides of :data:`DEFAULT_FAULT_RATES` (each in [0, 0.5]).

    Returns
    -------
    dict
        The ground truth (also written to ``out/ground_truth.json``).

    Raises
    ------
    InputError
        ``out`` is a file, or is not empty and ``overwrite`` is False.

    Notes
    -----
    Validated by ``tests/test_simulate.py``: byte-identical reruns, rates as configured, the
    true coefficients recovered by an ordinal logit (statsmodels ``OrderedModel``) on the true
    latent variables of a large simulation, the employee ICC recovered from ``y*``.
    """
    try:  # InputError so that the CLI reports a bad --encounters/--seed in one line
        check_number("n_encounters", n_encounters, low=100, high=10_000_000, integer=True)
        check_number("seed", seed, low=0, integer=True)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    check_type("overwrite", overwrite, bool)
    check_type("progress", progress, bool)
    check_type("out", out, (str, Path), what="a path")
    params = merge_parameters(parameters)
    rates = _fault_rates(fault_rates)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("expected a folder for the simulated study, found a file", file=out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError("output folder is not empty; use --force (overwrite=True) to overwrite the "
                         "simulator's files", file=out)
    if not _CODEBOOK.exists():
        raise InputError("the package's default codebook is missing (broken installation)", file=_CODEBOOK)

    from tqdm.auto import tqdm

    bar = tqdm(total=9, desc="simulate", unit="step", disable=not progress)

    def step(label):
        bar.set_postfix_str(label)
        bar.update(1)

    rngs = _streams(seed)
    truth = simulate_truth(n_encounters, rngs["truth"], params)
    n = n_encounters
    step("truth")
    (out / "boris").mkdir(parents=True, exist_ok=True)
    faults = []

    ops_cols, f = ST.operations_table(truth, rngs["operations"], rates).finish()
    write_delimited(out / "operations.csv", ops_cols)
    faults += f
    step("operations")

    c = params["coders"]
    coder_rates = dict(c["error_rates"], _smile_adjacent=c["smile_confusion_adjacent"],
                       _comment_share=c["comment_share"])
    sel = rngs["select"]
    pilot = np.flatnonzero(truth["service_point"] == 0)[:PILOT_CAP]
    rest = np.setdiff1d(np.arange(n), pilot)
    xtab = ST.coding_table(truth, pilot, "A", "coding_coder_A_SP01.xlsx", rngs["coder_a"], rates, coder_rates,
                           first_data_row=3)
    xcols, f = xtab.finish()
    header, rows = ST.xlsx_rows(xcols)
    write_xlsx(out / "coding_coder_A_SP01.xlsx", sheet="coding", note=ST.note_row(), header=header, rows=rows)
    faults += f
    acols, f = ST.coding_table(truth, rest, "A", "coding_coder_A.csv", rngs["coder_a"], rates, coder_rates,
                               first_data_row=2).finish()
    write_delimited(out / "coding_coder_A.csv", acols)
    faults += f
    step("coder A")
    b_idx = np.flatnonzero(sel.random(n) < c["coder_b_share"])
    bcols, f = ST.coding_table(truth, b_idx, "B", "coding_coder_B.csv", rngs["coder_b"], rates, coder_rates,
                               first_data_row=2, drift=c["coder_b_drift"]).finish()
    write_delimited(out / "coding_coder_B.csv", bcols, sep=";", encoding="cp1252")
    faults += f
    step("coder B")

    f2f = np.flatnonzero(~truth["channel_phone"])
    vid = f2f[sel.random(len(f2f)) < params["video"]["share_face_to_face"]]
    agg_tab, tab_tab, video_info = ST.boris_tables(truth, vid, rngs["boris"], rates, params)
    agg_cols, f = agg_tab.finish()
    write_delimited(out / "boris" / "video_aggregated.tsv", agg_cols, sep="\t")
    faults += f
    tab_cols, f = tab_tab.finish()
    write_delimited(out / "boris" / "video_tabular.csv", tab_cols, sep=",", eol="\r\n")
    faults += f
    step("BORIS")

    paper_tab, web_tab, survey_info = ST.survey_tables(truth, rngs["survey"], rates, params)
    pcols, f = paper_tab.finish()
    _write_paper_survey(out / "survey_paper.sav", pcols)
    faults += f
    wcols, f = web_tab.finish()
    write_delimited(out / "survey_web.csv", wcols, sep=";", bom=True)
    faults += f
    step("survey")

    shutil.copyfile(_CODEBOOK, out / "codebook.yaml")
    shutil.copyfile(_HYPOTHESES, out / "hypotheses.yaml")
    (out / "study.yaml").write_text(_study_yaml(n, seed), encoding="utf-8")
    step("study.yaml")

    gt = _ground_truth(truth, params, rates, faults, seed=seed, n=n,
                       counts={"n_coder_b": int(len(b_idx)), "n_pilot_excel": int(len(pilot)),
                               "n_face_to_face": int(len(f2f)), **{k: v for k, v in video_info.items()
                                                                    if k != "video_encounters"},
                               **survey_info})
    _write_ground_truth(out / "ground_truth.json", gt)
    step("ground truth")
    step("done")
    bar.close()
    return gt


def _streams(seed: int) -> dict:
    """Independent random streams: the truth never depends on fault rates or file writing."""
    names = ["truth", "operations", "coder_a", "coder_b", "boris", "survey", "select"]
    return {name: np.random.default_rng(child) for name, child in zip(names, np.random.SeedSequence(seed).spawn(7))}


def study_truth(*, n_encounters: int, seed: int, parameters: dict | None = None) -> dict:
    """The true encounters behind ``simulate_study(n_encounters=..., seed=...)`` (same random stream).

    For validation only: returns the arrays of :func:`simulate_truth` (true behaviours, random
    effects, latent mediator ``m``, linear predictor ``eta`` and latent ``y_star``).
    """
    return simulate_truth(n_encounters, _streams(seed)["truth"], merge_parameters(parameters))


def _write_paper_survey(path: Path, cols: dict) -> None:
    import pandas as pd

    frame = pd.DataFrame({
        "receipt_code": pd.Series(cols["receipt_code"].tolist(), dtype=object),
        "responded_at": pd.to_datetime(pd.Series(cols["responded_at"].tolist()), format="%Y-%m-%d %H:%M"),
    })
    for item in ("sat_overall", "sat_1", "sat_2", "sat_3", "felt_valued", "tell_others", "post_online"):
        frame[item] = cols[item].astype(np.float64)
    frame["respondent_email"] = pd.Series(cols["respondent_email"].tolist(), dtype=object)
    frame["open_feedback"] = pd.Series(cols["open_feedback"].tolist(), dtype=object)
    sat5 = {1.0: "very dissatisfied", 2.0: "dissatisfied", 3.0: "neither satisfied nor dissatisfied",
            4.0: "satisfied", 5.0: "very satisfied", -99.0: "no answer"}
    agree7 = {1.0: "strongly disagree", 2.0: "disagree", 3.0: "somewhat disagree",
              4.0: "neither agree nor disagree", 5.0: "somewhat agree", 6.0: "agree", 7.0: "strongly agree",
              -99.0: "no answer"}
    yes_no = {1.0: "yes", 0.0: "no"}
    labels = {"sat_overall": sat5, "sat_1": agree7, "sat_2": agree7, "sat_3": agree7, "felt_valued": agree7,
              "tell_others": yes_no, "post_online": yes_no}
    variable_labels = {
        "receipt_code": "Receipt code (encounter id)", "responded_at": "Response date and time",
        "sat_overall": "Overall, how satisfied were you with the service?",
        "sat_1": "The service met my expectations", "sat_2": "I am pleased with how I was served",
        "sat_3": "I would choose this service point again", "felt_valued": "I felt valued as a customer",
        "tell_others": "Will you tell others about this visit?", "post_online": "Will you write about it online?",
        "respondent_email": "E-mail (optional)", "open_feedback": "Open feedback",
    }
    missing = {k: [-99.0] for k in ("sat_overall", "sat_1", "sat_2", "sat_3", "felt_valued")}
    write_sav(path, frame, value_labels=labels, variable_labels=variable_labels, missing_ranges=missing)


def _study_yaml(n: int, seed: int) -> str:
    return f"""name: default-study
description: Simulated default study (svcresearch simulate --seed {seed} --encounters {n})
codebook: codebook.yaml
hypotheses: hypotheses.yaml
files:
  - path: operations.csv
    kind: operations
  - path: coding_coder_A.csv
    kind: coding
  - path: coding_coder_A_SP01.xlsx
    kind: coding
    sheet: coding
  - path: coding_coder_B.csv
    kind: coding
  - path: boris/video_aggregated.tsv
    kind: boris
  - path: boris/video_tabular.csv
    kind: boris
  - path: survey_paper.sav
    kind: survey
  - path: survey_web.csv
    kind: survey
adjudication: null
"""


def _ground_truth(truth, params, rates, faults, *, seed, n, counts) -> dict:
    c = params["coders"]
    return {
        "seed": seed,
        "n_encounters": n,
        "generator": "svcresearch.simulate (model documented in the module docstring)",
        "design": {"n_service_points": truth["n_points"], "n_employees": truth["n_employees"],
                   "n_customers": truth["n_customers"], **counts},
        "parameters": params,
        "derived": derived_quantities(params),
        "effects": true_effects(params),
        **_targets(params),
        "coders": {
            "error_rates_coder_A": c["error_rates"],
            "error_rates_coder_B": {"at_start": c["error_rates"],
                                    "at_end": {k: round(v * (1 + c["coder_b_drift"]), 6)
                                               for k, v in c["error_rates"].items()},
                                    "rule": "rate * (1 + drift * t), t = encounter index / (N - 1)"},
            "smile_errors_adjacent_share": c["smile_confusion_adjacent"],
        },
        "fault_rates": rates,
        "faults": faults,
        "notes": [
            "rows: file row numbers as a spreadsheet shows them (1-based, incl. header and note rows); "
            "survey_paper.sav rows are SPSS case numbers",
            "handling: normalise = cleaner must map it to the canonical value; normalise:missing = "
            "becomes missing; merge = exact duplicate merged; drop_pii = free text must not reach "
            "data/processed; quarantine:<reason> = quarantined with that reason code",
            "structural not-applicable cells (eye contact/smile on the phone, apology/explanation "
            "without failure, acknowledged_wait when wait < 2, referral when resolved) are written as "
            "'NA' or blank and are not faults",
        ],
    }


def _targets(params: dict) -> dict:
    """The hypotheses' targets: pseudo-true (what run_hypotheses reads) next to the generative values.

    ``hypotheses`` — the value each row of the hypotheses table converges to with true codes
    (:mod:`svcresearch.simulate._pseudo`; ``true_value`` of ``run_hypotheses`` is this);
    ``hypotheses_generative`` — the generative parameter; ``hypotheses_pseudo_true_coded`` — the
    limit with coder A's codes. ``model_terms`` stays the generative coefficient of the main
    model, with ``model_terms_pseudo_true`` beside it. Without cached values for ``params`` the
    generative values stand in for the pseudo-true ones and ``targets_note`` says so.
    """
    from svcresearch.simulate._pseudo import TARGETS_NOTE, cached_pseudo_true

    generative = hypothesis_truths(params)
    cache = cached_pseudo_true(params)
    if cache is None:
        return {"hypotheses": generative, "hypotheses_generative": generative, "model_terms": model_term_truths(params),
                "targets_note": "true_value is the GENERATIVE value: no pseudo-true values are cached for these "
                                "parameters (compute them with svcresearch.simulate._pseudo.pseudo_true_values)."}
    return {"hypotheses": cache["true_codes"]["hypotheses"], "hypotheses_generative": generative,
            "hypotheses_pseudo_true_coded": cache["coded"]["hypotheses"],
            "hypotheses_pseudo_true_se": cache["true_codes"]["hypotheses_se"],
            "model_terms": model_term_truths(params),
            "model_terms_pseudo_true": cache["true_codes"]["model_terms"],
            "model_terms_pseudo_true_se": cache["true_codes"].get("model_terms_se", {}),
            "model_terms_pseudo_true_coded": cache["coded"]["model_terms"],
            "targets_note": TARGETS_NOTE + f" Pseudo-true values from one simulated study of "
                                           f"{cache['n_encounters']:,} encounters (seed {cache['seed']})."}


def _write_ground_truth(path: Path, gt: dict) -> None:
    faults = gt["faults"]
    head = dict(gt, faults="@@FAULTS@@")
    text = json.dumps(head, indent=1, ensure_ascii=False)
    lines = ",\n".join("  " + json.dumps(f, ensure_ascii=False, separators=(", ", ": ")) for f in faults)
    text = text.replace('"@@FAULTS@@"', "[\n" + lines + "\n ]")
    path.write_text(text + "\n", encoding="utf-8")
