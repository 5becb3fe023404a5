"""Pseudo-true targets of the default study's hypotheses table (DESIGN §7).

The generative parameters (``latent.beta``, ``mediator``) are not always what the fitted models
estimate, even with infinite data:

* the main model leaves the latent mediator out, so its logistic error gains the variance of
  ``b * (m - mean)`` and every coefficient is rescaled a little (the ``derived`` attenuation
  factors of ground_truth.json approximate this; the large-n fit gives it exactly);
* H11's a·b uses the observed ``felt_valued`` (rounded and clipped to 1-7), not the latent
  mediator ``m`` of the generative model, so both a and b differ from ``a_genuine`` and
  ``felt_valued_slope``;
* with *coded* behaviours the estimates shrink towards zero (misclassification), and H12 picks
  up a spurious effect because coders code referral only where they themselves coded
  ``resolved = no`` (applicability conditioned on a fallible code).

The **pseudo-true value** of a row is what :func:`svcresearch.hypotheses.run_hypotheses`
converges to as the study grows: here, its estimate on one very large simulated study in which
every encounter is rated (non-response is completely at random, so it changes the precision, not
the target). It is computed twice: with the **true** behaviours and with **coded** behaviours
(coder A's codes with the study's error rates and applicability rules, as the cleaner's
consensus gives them). The values for :data:`DEFAULT_PARAMETERS` are cached in
``resources/pseudo_true.json`` (with the parameters' fingerprint, size and seed); regenerate with
``python -m svcresearch.simulate._pseudo`` after changing a default parameter.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from svcresearch.simulate._model import BEHAVIOURS, SMILE_LEVELS, merge_parameters, simulate_truth

RESOURCES = Path(__file__).resolve().parent / "resources"
CACHE = RESOURCES / "pseudo_true.json"
#: Size and seed of the large study behind the cached pseudo-true values.
PSEUDO_N = 1_200_000
PSEUDO_SEED = 7_000_001
CODES = ("true", "coded")

TARGETS_NOTE = (
    "true_value in the hypotheses table (ground_truth 'hypotheses') is the PSEUDO-TRUE value with true codes: "
    "what the pre-registered model converges to on a very large simulated study rated in full "
    "(svcresearch.simulate._pseudo). It differs from the generative parameter ('hypotheses_generative') by "
    "the rescaling from leaving the latent mediator out of the model, and for H11 because a*b is "
    "estimated on the observed, rounded and clipped 1-7 felt_valued rather than on the latent mediator. "
    "'hypotheses_pseudo_true_coded' is the same limit with coder A's fallible codes: shrunk by "
    "misclassification, and nonzero for H12 because referral is coded only where the coder coded "
    "resolved = no."
)


def parameter_fingerprint(params: dict) -> str:
    """SHA-256 of the parameters as canonical JSON (keys sorted): the cache key."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encounter_frame(truth: dict, *, codes: str = "true", rng: np.random.Generator | None = None,
                    params: dict | None = None, rows: np.ndarray | None = None) -> pd.DataFrame:
    """An analysis-ready encounters table (the cleaner's column names and types) from the truth.

    Parameters
    ----------
    truth : dict
        Output of :func:`svcresearch.simulate.simulate_truth` / ``study_truth``.
    codes : {"true", "coded"}
        Behaviours as they truly were, or as coder A codes them (error rates and applicability
        rules of ``params["coders"]``, the same function that writes the coding sheets).
    rng : numpy.random.Generator, optional
        Random stream of the coder (``codes="coded"``).
    params : dict, optional
        Parameters (default :data:`DEFAULT_PARAMETERS`) for the coder's error rates.
    rows : array of int, optional
        Encounters to keep (default all: every encounter rated).

    Returns
    -------
    pandas.DataFrame
        ``employee, service_point, channel, wait_min, returning_customer, service_failure``, the
        behaviours with ``<name>_status`` (observed / not_applicable), ``sat_overall`` and
        ``felt_valued`` — the columns the default study's hypotheses need.
    """
    from svcresearch.simulate import _study as ST

    if codes not in CODES:
        raise ValueError(f"`codes` must be one of {CODES}; got {codes!r}.")
    n = truth["n"]
    idx = np.arange(n) if rows is None else np.asarray(rows)
    frame = pd.DataFrame({
        "encounter_id": pd.array([f"ENC-{i + 1:06d}" for i in idx], dtype="string"),
        "service_point": pd.array([f"SP{p + 1:02d}" for p in truth["service_point"][idx]], dtype="string"),
        "employee": pd.array([f"E{e + 1:05d}" for e in truth["employee"][idx]], dtype="string"),
        "channel": pd.Categorical(np.where(truth["channel_phone"][idx], "phone", "face_to_face"),
                                  categories=["face_to_face", "phone"]),
        "wait_min": truth["wait_min"][idx].astype(float),
        "returning_customer": pd.array(truth["returning_customer"][idx], dtype="boolean"),
        "service_failure": pd.array(truth["service_failure"][idx], dtype="boolean"),
    })
    if codes == "true":
        values, applicable = true_codes(truth, idx)
    else:
        params = merge_parameters(None) if params is None else params
        c = params["coders"]
        rates = dict(c["error_rates"], _smile_adjacent=c["smile_confusion_adjacent"],
                     _comment_share=c["comment_share"])
        coded = ST.coded_values(truth, idx, rng if rng is not None else np.random.default_rng(0), rates)
        values, applicable = {}, {}
        for b in BEHAVIOURS:
            text = np.asarray(coded[b], dtype=object)
            applicable[b] = ~np.isin(text, ["", "NA"])
            if b == "smile":
                values[b] = np.array([SMILE_LEVELS.index(v) if v in SMILE_LEVELS else 0 for v in text])
            else:
                values[b] = text == "yes"
    for b in BEHAVIOURS:
        app = applicable[b]
        if b == "smile":
            cat = pd.Categorical(np.asarray(SMILE_LEVELS, dtype=object)[values[b]], categories=SMILE_LEVELS,
                                 ordered=True)
            frame[b] = cat
            frame.loc[~app, b] = np.nan
        else:
            frame[b] = pd.array(np.where(app, values[b], False), dtype="boolean")
            frame.loc[~app, b] = pd.NA
        frame[f"{b}_status"] = pd.Categorical(np.where(app, "observed", "not_applicable"),
                                              categories=["observed", "missing", "not_applicable"])
    frame["sat_overall"] = pd.array(truth["sat_overall"][idx].astype(np.int64), dtype="Int64")
    frame["felt_valued"] = pd.array(truth["felt_valued"][idx].astype(np.int64), dtype="Int64")
    return frame


def true_codes(truth: dict, idx: np.ndarray) -> tuple[dict, dict]:
    """True behaviours of encounters ``idx`` and their true applicability (by behaviour)."""
    values, applicable = {}, {}
    for b in BEHAVIOURS:
        values[b] = truth[b][idx].astype(np.int64) if b == "smile" else truth[b][idx].astype(bool)
        mask = truth["applicable"].get(b)
        applicable[b] = np.ones(len(idx), bool) if mask is None else mask[idx]
    return values, applicable


def pseudo_true_values(parameters: dict | None = None, *, codes: str = "true", n_encounters: int = PSEUDO_N,
                       seed: int = PSEUDO_SEED) -> dict:
    """Pseudo-true value of every hypotheses row and main-model term (large-n fit).

    Parameters
    ----------
    parameters : dict, optional
        Overrides of :data:`DEFAULT_PARAMETERS`.
    codes : {"true", "coded"}
        Fit with the true behaviours or with coder A's codes.
    n_encounters : int
        Size of the large study (all encounters rated).
    seed : int
        Its seed.

    Returns
    -------
    dict
        ``{"hypotheses": {claim: {label: value}}, "hypotheses_se": {...}, "model_terms":
        {term: value}, "model_terms_se": {...}, "n_encounters", "seed", "codes"}`` — the ``_se``
        entries are the large fit's own standard errors (the Monte Carlo error of the target).

    Notes
    -----
    Uses the package's default codebook and hypotheses file and
    :func:`svcresearch.hypotheses.run_hypotheses` unchanged, so the target is by construction
    what the analysis of a simulated study estimates.
    """
    from svcresearch.codebook import load_codebook
    from svcresearch.hypotheses import load_hypotheses, run_hypotheses

    params = merge_parameters(parameters)
    seq = np.random.SeedSequence(seed).spawn(2)
    truth = simulate_truth(n_encounters, np.random.default_rng(seq[0]), params)
    frame = encounter_frame(truth, codes=codes, rng=np.random.default_rng(seq[1]), params=params)
    codebook = load_codebook(RESOURCES / "codebook.yaml")
    hyps = load_hypotheses(RESOURCES / "hypotheses.yaml", codebook=codebook)
    table = run_hypotheses(frame, hypotheses=hyps, codebook=codebook, n_draws=20_000)
    main = next(iter(table.attrs["models"].values()))
    table.attrs = {}               # the fits hold the large study's data: keep them out of derived rows
    out: dict = {"hypotheses": {}, "hypotheses_se": {}}
    for r in table.itertuples(index=False):
        out["hypotheses"].setdefault(r.hypothesis, {})[r.term] = round(float(r.estimate), 6)
        out["hypotheses_se"].setdefault(r.hypothesis, {})[r.term] = round(float(r.std_error), 6)
    coefs = main.coefficients()
    out["model_terms"] = {t: round(float(e), 6) for t, e in zip(coefs["term"], coefs["estimate"])}
    out["model_terms_se"] = {t: round(float(e), 6) for t, e in zip(coefs["term"], coefs["std_error"])}
    out.update(n_encounters=int(n_encounters), seed=int(seed), codes=codes, fingerprint=parameter_fingerprint(params))
    return out


def cached_pseudo_true(params: dict) -> dict | None:
    """The cached pseudo-true values when ``params`` are the ones they were computed for, else None."""
    if not CACHE.is_file():
        return None
    cache = json.loads(CACHE.read_text(encoding="utf-8"))
    if cache.get("fingerprint") != parameter_fingerprint(params):
        return None
    return cache


def write_cache(*, n_encounters: int = PSEUDO_N, seed: int = PSEUDO_SEED, computed: dict | None = None) -> dict:
    """Compute both pseudo-true sets for the default parameters and write ``pseudo_true.json``.

    ``computed`` — ``{"true": ..., "coded": ...}`` outputs of :func:`pseudo_true_values` already
    computed (e.g. in two processes with ``python -m svcresearch.simulate._pseudo true|coded``);
    they must be for ``n_encounters`` and ``seed``.
    """
    params = merge_parameters(None)
    computed = dict(computed or {})
    for codes in CODES:
        if codes not in computed:
            computed[codes] = pseudo_true_values(codes=codes, n_encounters=n_encounters, seed=seed)
        got = computed[codes]
        if (got.get("n_encounters"), got.get("seed"), got.get("codes")) != (n_encounters, seed, codes) or \
                got.get("fingerprint", parameter_fingerprint(params)) != parameter_fingerprint(params):
            raise ValueError(f"the precomputed {codes!r} set is not for the default parameters, "
                             f"n_encounters={n_encounters} and seed={seed}.")
    cache = {"fingerprint": parameter_fingerprint(params), "n_encounters": n_encounters, "seed": seed,
             "method": "run_hypotheses on one simulated study of n_encounters, every encounter rated; "
                       "hypotheses_se is that fit's standard error (the Monte Carlo error of the target)",
             "true_codes": computed["true"], "coded": computed["coded"]}
    partial = CACHE.with_suffix(".json.partial")   # never a half-written cache: write, then rename
    partial.write_text(json.dumps(cache, indent=1) + "\n", encoding="utf-8")
    partial.replace(CACHE)
    return cache


if __name__ == "__main__":
    # python -m svcresearch.simulate._pseudo            compute both sets and write the cache
    # python -m svcresearch.simulate._pseudo true|coded  one set, printed (to run the two in parallel)
    # python -m svcresearch.simulate._pseudo --write TRUE.json CODED.json   cache from those two
    import sys

    args = sys.argv[1:]
    if args and args[0] == "--write":
        if len(args) != 3:
            sys.exit("usage: python -m svcresearch.simulate._pseudo --write TRUE.json CODED.json")
        write_cache(computed={c: json.loads(Path(f).read_text(encoding="utf-8")) for c, f in zip(CODES, args[1:])})
    elif len(args) == 1 and args[0] in CODES:
        print(json.dumps(pseudo_true_values(codes=args[0]), indent=1))
    elif not args:
        write_cache()
    else:
        sys.exit(f"usage: python -m svcresearch.simulate._pseudo [{'|'.join(CODES)} | --write TRUE.json CODED.json]")
