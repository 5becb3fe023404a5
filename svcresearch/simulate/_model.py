"""The generative model of the default study: true encounters, behaviours and survey answers.

Everything here is the *truth* (no coder errors, no file faults). :func:`simulate_truth` returns
one row per encounter as a dict of numpy arrays; the file writers in ``_study`` turn it into
messy raw files. The equations are documented in :mod:`svcresearch.simulate`.
"""
from __future__ import annotations

import copy
import math

import numpy as np

#: Every number of the generative model. ``simulate_study(parameters=...)`` overrides single keys
#: (nested dicts are merged); the full set used for a study is written to ground_truth.json.
DEFAULT_PARAMETERS: dict = {
    "structure": {
        "encounters_per_employee": 50,     # employees = max(8, round(N / 50))
        "min_employees": 8,
        "min_service_points": 8,           # service points = max(8, round(8 * sqrt(N / 2400)))
        "phone_share": 0.30,
        "returning_share": 0.40,
        "failure_share": 0.15,
        "wait_median_min": 3.0,            # log-normal waiting time (right-skewed)
        "wait_sigma_log": 0.8,
        "duration_median_s": 180.0,
        "duration_sigma_log": 0.45,
        "failure_duration_factor": 1.5,
        "customers_per_encounter": 0.7,    # size of the customer pool relative to N
        "study_start": "2026-03-02",       # a Monday; encounters on weekdays 08:00-17:59
        "encounters_per_day": 120,
        "max_days": 250,
    },
    "behaviour": {                          # P(behaviour) at an average employee (logit scale)
        "eye_contact": 0.75,                # face-to-face only
        "greeting": 0.85,
        "smile": {"none": 0.35, "polite": 0.40, "genuine": 0.25},  # face-to-face only
        "resolved": 0.80,
        "resolved_if_failure": 0.55,
        "empathy": 0.50,
        "apology": 0.55,                    # only after a service failure
        "explanation": 0.50,                # only after a service failure
        "acknowledged_wait": 0.40,          # only when wait_min >= 2
        "phone_use": 0.10,
        "scripted": 0.30,
        "upselling": 0.20,
        "referral": 0.40,                   # only when not resolved
        "employee_propensity_sd": 0.5,      # employee random effect on each behaviour's logit
    },
    "latent": {
        "sd_service_point": 0.25,
        "sd_employee": 0.50,
        # y* = sum(beta * x) + b * (m - mediator mean) + u_point + u_employee + logistic error
        "beta": {
            "eye_contact": 0.45,
            "greeting": 0.35,
            "smile[polite]": 0.15,          # direct effects; the indirect part runs via felt_valued
            "smile[genuine]": 0.35,
            "resolved": 1.00,
            "empathy": 0.40,
            "resolved:empathy": 0.50,
            "wait_min": -0.12,
            "acknowledged_wait": 0.10,
            "wait_min:acknowledged_wait": 0.04,
            "apology": 0.50,
            "explanation": 0.15,
            "phone_use": -0.40,
            "scripted": -0.25,
            "upselling": -0.30,
            "service_failure": -1.40,
            "returning_customer": 0.20,
            "service_failure:returning_customer": 0.50,
            "referral": 0.0,
            "channel[phone]": 0.50,
        },
        "felt_valued_slope": 0.35,          # b: logit per felt-valued point (latent mediator)
        # cut-points of y* for sat_overall 1|2, 2|3, 3|4, 4|5 (ceiling, negative skew)
        "thresholds": [-2.5, -1.2, 0.3, 2.2],
    },
    "mediator": {                           # m = mean + a * smile + N(0, sd); felt_valued = round(m)
        "mean": 4.4,
        "a_polite": 0.40,
        "a_genuine": 0.90,
        "sd": 1.1,
    },
    "scale": {                              # sat_k* = y* + N(0, sd); sat_k = cut(sat_k*, thresholds)
        "item_error_sd": 1.35,
        "thresholds": [-3.0, -2.0, -1.0, 0.0, 1.2, 2.6],
    },
    "word_of_mouth": {
        "tell_others_intercept": -0.6, "tell_others_slope": 0.55,
        "post_online_intercept": -2.6, "post_online_slope_abs": 0.45,
    },
    "survey": {
        "response_rate": 0.70,              # missing completely at random
        "paper_share_face_to_face": 0.45,   # phone customers answer on the web
        "email_share": 0.40,
        "feedback_share": 0.20,
    },
    "coders": {
        "coder_b_share": 0.30,
        # P(coder A records the wrong value); coder B: rate * (1 + drift * t), t = 0..1 over the study
        "error_rates": {
            "eye_contact": 0.035, "greeting": 0.013, "smile": 0.09, "resolved": 0.02,
            "empathy": 0.07, "apology": 0.03, "explanation": 0.04, "acknowledged_wait": 0.05,
            "phone_use": 0.025, "scripted": 0.08, "upselling": 0.05, "referral": 0.04,
        },
        "coder_b_drift": 0.5,
        "smile_confusion_adjacent": 0.8,    # share of smile errors that are polite<->genuine (or none->polite)
        "comment_share": 0.10,
    },
    "video": {
        "share_face_to_face": 0.10,
        "greeting_latency_median_s": 2.5,
        "fps": 25.0,
    },
}

BEHAVIOURS = ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "explanation",
              "acknowledged_wait", "phone_use", "scripted", "upselling", "referral"]
SMILE_LEVELS = ["none", "polite", "genuine"]

_ANCHOR_SMILE = ("Barger & Grandey 2006 (AMJ: coded smile -> satisfaction, mediated by appraisal); "
                 "Otterbring 2017 (smiling raised satisfaction via pleasure); Hennig-Thurau et al. 2006 "
                 "(authenticity of the smile matters, not its amount): genuine > polite. Direction and "
                 "order from these studies; the logit size is our calibration.")


def merge_parameters(overrides: dict | None) -> dict:
    """Default parameters with ``overrides`` merged in (nested); unknown keys raise ValueError."""
    params = copy.deepcopy(DEFAULT_PARAMETERS)
    if overrides is None:
        return params

    def merge(base, new, where):
        if not isinstance(new, dict):
            raise TypeError(f"`parameters{where}` must be a dict; got {type(new).__name__}.")
        for key, value in new.items():
            if key not in base:
                raise ValueError(f"`parameters{where}` has no key {key!r}; known keys: "
                                 f"{', '.join(map(repr, base))}.")
            if isinstance(base[key], dict):
                merge(base[key], value, f"{where}[{key!r}]")
            else:
                base[key] = value

    merge(params, overrides, "")
    return params


def _logit(p):
    return math.log(p / (1.0 - p))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def design_sizes(n_encounters: int, params: dict) -> tuple[int, int]:
    """(service points, employees) for a study of ``n_encounters``."""
    s = params["structure"]
    n_emp = max(int(s["min_employees"]), int(round(n_encounters / s["encounters_per_employee"])))
    n_points = max(int(s["min_service_points"]), int(round(8 * math.sqrt(n_encounters / 2400))))
    return min(n_points, n_emp), n_emp


def simulate_truth(n_encounters: int, rng: np.random.Generator, params: dict) -> dict:
    """The true encounters (one entry per encounter; arrays of length N), in time order.

    Returns a dict with context (``service_point``, ``employee``, ``channel_phone``, ``wait_min`` …),
    true behaviours (bool arrays; ``smile`` 0/1/2; ``*_applicable`` masks), the random effects
    (``u_point``, ``u_employee`` per encounter), the latent mediator ``m``, the linear predictor
    ``eta`` (fixed part incl. mediator), latent ``y_star`` and the survey answers for everyone.
    """
    n = n_encounters
    s, b, lat = params["structure"], params["behaviour"], params["latent"]
    n_points, n_emp = design_sizes(n, params)

    # --- structure: employees nested in service points; encounters in time order -------------
    emp_point = np.arange(n_emp) % n_points              # every point gets employees
    employee = rng.integers(0, n_emp, size=n)
    point = emp_point[employee]
    n_days = int(min(max(10, math.ceil(n / s["encounters_per_day"])), s["max_days"]))
    day = rng.integers(0, n_days, size=n)
    minute = rng.integers(8 * 60, 18 * 60, size=n)
    start0 = np.datetime64(s["study_start"], "m")
    calendar_day = (day // 5) * 7 + day % 5              # weekdays only
    start = start0 + (calendar_day * 1440 + minute).astype("timedelta64[m]")
    order = np.argsort(start, kind="stable")
    start, employee, point = start[order], employee[order], point[order]

    phone = rng.random(n) < s["phone_share"]
    returning = rng.random(n) < s["returning_share"]
    failure = rng.random(n) < s["failure_share"]
    wait = np.round(np.exp(np.log(s["wait_median_min"]) + s["wait_sigma_log"] * rng.standard_normal(n)), 1)
    duration = np.exp(np.log(s["duration_median_s"]) + s["duration_sigma_log"] * rng.standard_normal(n))
    duration = np.round(duration * np.where(failure, s["failure_duration_factor"], 1.0))
    duration = np.maximum(duration, 30.0)
    n_customers = max(1, int(round(n * s["customers_per_encounter"])))
    customer = rng.integers(0, n_customers, size=n)

    # --- behaviours: employee propensities on the logit of each probability -------------------
    sd_prop = b["employee_propensity_sd"]

    def draw(name, p, mask=None):
        prop = rng.standard_normal(n_emp) * sd_prop
        x = rng.random(n) < _sigmoid(_logit(p) + prop[employee])
        return x if mask is None else (x & mask)

    f2f = ~phone
    eye = draw("eye_contact", b["eye_contact"], f2f)
    greeting = draw("greeting", b["greeting"])
    # smile: ordered-logit draw with an employee "warmth" shift, same marginal at average employee
    warmth = rng.standard_normal(n_emp) * sd_prop
    p_none, p_pol = b["smile"]["none"], b["smile"]["polite"]
    c1, c2 = _logit(p_none), _logit(p_none + p_pol)
    z = rng.logistic(size=n) - warmth[employee]
    smile = np.where(z < c1, 0, np.where(z < c2, 1, 2)).astype(np.int8)
    smile[phone] = 0
    p_res = np.where(failure, b["resolved_if_failure"], b["resolved"])
    prop_res = rng.standard_normal(n_emp) * sd_prop
    resolved = rng.random(n) < _sigmoid(np.log(p_res / (1 - p_res)) + prop_res[employee])
    empathy = draw("empathy", b["empathy"])
    apology = draw("apology", b["apology"], failure)
    explanation = draw("explanation", b["explanation"], failure)
    ack_applicable = wait >= 2
    ack = draw("acknowledged_wait", b["acknowledged_wait"], ack_applicable)
    phone_use = draw("phone_use", b["phone_use"])
    scripted = draw("scripted", b["scripted"])
    upselling = draw("upselling", b["upselling"])
    referral = draw("referral", b["referral"], ~resolved)

    # --- random effects -----------------------------------------------------------------------
    u_point_lvl = rng.standard_normal(n_points) * lat["sd_service_point"]
    u_emp_lvl = rng.standard_normal(n_emp) * lat["sd_employee"]
    u_point, u_emp = u_point_lvl[point], u_emp_lvl[employee]

    # --- mediator (H11) -----------------------------------------------------------------------
    med = params["mediator"]
    m = (med["mean"] + med["a_polite"] * (smile == 1) + med["a_genuine"] * (smile == 2)
         + med["sd"] * rng.standard_normal(n))
    felt_valued = np.clip(np.rint(m), 1, 7).astype(np.int8)

    # --- latent satisfaction --------------------------------------------------------------------
    X = design_matrix({"eye_contact": eye, "greeting": greeting, "smile": smile, "resolved": resolved,
                       "empathy": empathy, "wait_min": wait, "acknowledged_wait": ack, "apology": apology,
                       "explanation": explanation, "phone_use": phone_use, "scripted": scripted,
                       "upselling": upselling, "service_failure": failure, "returning_customer": returning,
                       "referral": referral, "channel_phone": phone})
    beta = lat["beta"]
    eta = sum(beta[t] * X[t] for t in beta) + lat["felt_valued_slope"] * (m - med["mean"])
    y_star = eta + u_point + u_emp + rng.logistic(size=n)
    tau = np.asarray(lat["thresholds"])
    sat_overall = (np.searchsorted(tau, y_star) + 1).astype(np.int8)

    sc = params["scale"]
    tau7 = np.asarray(sc["thresholds"])
    items = [(np.searchsorted(tau7, y_star + sc["item_error_sd"] * rng.standard_normal(n)) + 1).astype(np.int8)
             for _ in range(3)]
    wom = params["word_of_mouth"]
    yc = y_star - tau.mean()
    tell = rng.random(n) < _sigmoid(wom["tell_others_intercept"] + wom["tell_others_slope"] * yc)
    post = rng.random(n) < _sigmoid(wom["post_online_intercept"] + wom["post_online_slope_abs"] * np.abs(yc))

    return {
        "n": n, "n_points": n_points, "n_employees": n_emp, "n_customers": n_customers,
        "start": start, "service_point": point, "employee": employee, "customer": customer,
        "channel_phone": phone, "returning_customer": returning, "service_failure": failure,
        "wait_min": wait, "duration_s": duration,
        "eye_contact": eye, "greeting": greeting, "smile": smile, "resolved": resolved,
        "empathy": empathy, "apology": apology, "explanation": explanation,
        "acknowledged_wait": ack, "phone_use": phone_use, "scripted": scripted,
        "upselling": upselling, "referral": referral,
        "applicable": {
            "eye_contact": f2f, "smile": f2f, "apology": failure, "explanation": failure,
            "acknowledged_wait": ack_applicable, "referral": ~resolved,
        },
        "u_point": u_point, "u_employee": u_emp, "u_point_levels": u_point_lvl, "u_employee_levels": u_emp_lvl,
        "m": m, "felt_valued": felt_valued, "eta": eta, "y_star": y_star,
        "sat_overall": sat_overall, "sat_1": items[0], "sat_2": items[1], "sat_3": items[2],
        "tell_others": tell, "post_online": post,
    }


def design_matrix(x: dict) -> dict:
    """Columns of the latent equation, named like the terms of ``latent.beta`` (0 when n/a)."""
    f = {k: np.asarray(v, dtype=float) for k, v in x.items() if k != "smile"}
    smile = np.asarray(x["smile"])
    return {
        "eye_contact": f["eye_contact"], "greeting": f["greeting"],
        "smile[polite]": (smile == 1).astype(float), "smile[genuine]": (smile == 2).astype(float),
        "resolved": f["resolved"], "empathy": f["empathy"], "resolved:empathy": f["resolved"] * f["empathy"],
        "wait_min": f["wait_min"], "acknowledged_wait": f["acknowledged_wait"],
        "wait_min:acknowledged_wait": f["wait_min"] * f["acknowledged_wait"],
        "apology": f["apology"], "explanation": f["explanation"], "phone_use": f["phone_use"],
        "scripted": f["scripted"], "upselling": f["upselling"], "service_failure": f["service_failure"],
        "returning_customer": f["returning_customer"],
        "service_failure:returning_customer": f["service_failure"] * f["returning_customer"],
        "referral": f["referral"], "channel[phone]": f["channel_phone"],
    }


def true_effects(params: dict) -> list[dict]:
    """The ``effects`` list of ground_truth.json: one entry per hypothesis term."""
    beta = params["latent"]["beta"]
    lat, med = params["latent"], params["mediator"]
    bm = lat["felt_valued_slope"]
    ve, vp = lat["sd_employee"] ** 2, lat["sd_service_point"] ** 2
    logistic_var = math.pi ** 2 / 3
    icc_emp = ve / (ve + vp + logistic_var)
    scale = "latent logit"
    P = "practice claim in sources/{}; no published size among our anchors - the logit size is an assumption"

    def e(h, term, value, source, assumption, definition=None, sc=scale):
        out = {"hypothesis": h, "term": term, "true_value": round(float(value), 6), "scale": sc,
               "source": source, "assumption": bool(assumption)}
        if definition:
            out["definition"] = definition
        return out

    total_pol = beta["smile[polite]"] + med["a_polite"] * bm
    total_gen = beta["smile[genuine]"] + med["a_genuine"] * bm
    effects = [
        e("H1", "eye_contact", beta["eye_contact"], P.format("004, 003"), True),
        e("H2", "greeting", beta["greeting"], P.format("003"), True),
        e("H3", "smile[polite]", total_pol, _ANCHOR_SMILE, False,
          "total effect vs none (direct + a_polite * b), i.e. in a model without felt_valued"),
        e("H3", "smile[genuine]", total_gen, _ANCHOR_SMILE, False,
          "total effect vs none (direct + a_genuine * b), i.e. in a model without felt_valued"),
        e("H3", "smile[genuine] - smile[polite]", total_gen - total_pol, _ANCHOR_SMILE, False,
          "difference of the total effects; H3 holds when > 0"),
        e("H4", "resolved", beta["resolved"], P.format("000, 003"), True, "effect of resolution when empathy = no"),
        e("H4", "empathy", beta["empathy"], P.format("000, 003"), True, "effect of empathy when resolved = no"),
        e("H4", "resolved:empathy", beta["resolved:empathy"], P.format("000, 003"), True,
          "interaction: empathy adds to the effect of resolution"),
        e("H5", "wait_min", beta["wait_min"],
          "Pruyn & Smidts 1998 (waiting lowers satisfaction, through perceived wait); logit size per minute is our calibration",
          False, "per minute of waiting, when the wait was not acknowledged"),
        e("H5", "acknowledged_wait", beta["acknowledged_wait"], P.format("000, 003") + " (nodding)", True,
          "acknowledgement at wait_min = 0 (only applicable when wait_min >= 2)"),
        e("H5", "wait_min:acknowledged_wait", beta["wait_min:acknowledged_wait"],
          P.format("000, 003") + " (nodding); deliberately SMALL", True,
          "softening of the per-minute waiting penalty when acknowledged"),
        e("H6", "apology", beta["apology"], P.format("002"), True, "failures only"),
        e("H6", "explanation", beta["explanation"], P.format("002"), True, "failures only"),
        e("H6", "apology - explanation", beta["apology"] - beta["explanation"], P.format("002"), True,
          "failures only; H6 holds when > 0"),
        e("H7", "phone_use", beta["phone_use"], P.format("004 (+comment)"), True),
        e("H7", "scripted", beta["scripted"],
          "Victorino et al. 2013 (scripting hurt only in customised encounters): a small average penalty is our calibration",
          False),
        e("H7", "upselling", beta["upselling"], P.format("004 (+comment)"), True),
        e("H8", "service_failure", beta["service_failure"], P.format("001"), True,
          "effect of a failure for a first-time customer"),
        e("H8", "returning_customer", beta["returning_customer"], P.format("001"), True),
        e("H8", "service_failure:returning_customer", beta["service_failure:returning_customer"],
          P.format("001"), True, "buffer: a failure hurts returning customers less (> 0)"),
        e("H9", "abs(service_failure) - resolved", abs(beta["service_failure"]) - beta["resolved"],
          P.format("000"), True,
          "negativity asymmetry: |effect of a service failure| minus the effect of resolution, at the "
          "reference levels (first-time customer, no empathy); H9 holds when > 0"),
        e("H10", "icc_employee", icc_emp,
          "employee ICCs are small (.03-.10) in service research (DESIGN §2)", False,
          "var_employee / (var_employee + var_service_point + pi^2/3) on the latent logistic scale, "
          "conditional on the fixed effects", sc="proportion of latent variance"),
        e("H10", "var_employee", ve, "calibrated to the ICC", False, sc="latent logit variance"),
        e("H10", "var_service_point", vp, "calibration", True, sc="latent logit variance"),
        e("H11", "a: smile[polite] -> felt_valued", med["a_polite"], _ANCHOR_SMILE, False,
          "effect on the latent felt-valued score (felt_valued = round(m), points of the 1-7 scale)",
          sc="felt_valued points"),
        e("H11", "a: smile[genuine] -> felt_valued", med["a_genuine"], _ANCHOR_SMILE, False,
          "effect on the latent felt-valued score", sc="felt_valued points"),
        e("H11", "b: felt_valued", bm, "Barger & Grandey 2006; Otterbring 2017 (mediated smile effect)", False,
          "logit per felt-valued point, controlling for smile"),
        e("H11", "indirect: smile[genuine]", med["a_genuine"] * bm, _ANCHOR_SMILE, False, "a * b"),
        e("H11", "indirect: smile[polite]", med["a_polite"] * bm, _ANCHOR_SMILE, False, "a * b"),
        e("H11", "direct: smile[genuine]", beta["smile[genuine]"], _ANCHOR_SMILE, False,
          "controlling for felt_valued"),
        e("H11", "direct: smile[polite]", beta["smile[polite]"], _ANCHOR_SMILE, False,
          "controlling for felt_valued"),
        e("H12", "referral", beta["referral"], P.format("002") + "; TRULY NULL by design", True,
          "only applicable when resolved = no"),
    ]
    return effects


def derived_quantities(params: dict) -> dict:
    """Numbers an analyst needs to compare estimates with the truth (attenuation, ICCs)."""
    lat, med = params["latent"], params["mediator"]
    ve, vp = lat["sd_employee"] ** 2, lat["sd_service_point"] ** 2
    lv = math.pi ** 2 / 3
    vm = (lat["felt_valued_slope"] * med["sd"]) ** 2
    return {
        "logistic_error_variance": lv,
        "icc_employee_latent": ve / (ve + vp + lv),
        "icc_service_point_latent": vp / (ve + vp + lv),
        # a fixed-effects-only ordinal logit without felt_valued estimates beta * this factor
        # (Zeger, Liang & Albert 1988 style approximation sqrt(pi^2/3 / total latent error variance))
        "attenuation_marginal_without_mediator": math.sqrt(lv / (lv + ve + vp + vm)),
        "attenuation_with_random_effects_without_mediator": math.sqrt(lv / (lv + vm)),
    }


def model_term_truths(params: dict) -> dict[str, float]:
    """True coefficients of the default study's main model by readable term (``model_terms``).

    The main model (``hypotheses.yaml``'s ``model``) has no felt_valued, so the smile terms are
    the TOTAL effects vs no smile (direct + a * b); every other term is the latent ``beta``.
    Keys follow :mod:`svcresearch.modelframe`'s names (``smile[polite]``, ``channel[phone]``,
    ``resolved:empathy``).
    """
    beta = dict(params["latent"]["beta"])
    med, bm = params["mediator"], params["latent"]["felt_valued_slope"]
    beta["smile[polite]"] = beta["smile[polite]"] + med["a_polite"] * bm
    beta["smile[genuine]"] = beta["smile[genuine]"] + med["a_genuine"] * bm
    return {k: round(float(v), 6) for k, v in beta.items()}


def hypothesis_truths(params: dict) -> dict[str, dict[str, float]]:
    """True value of every row of the default study's hypotheses table, by claim id and row label.

    The labels are those of ``simulate/resources/hypotheses.yaml`` (its ``label`` or the test
    written out), so :func:`svcresearch.hypotheses.run_hypotheses` looks them up without knowing
    the study. H10 is the estimand the model targets: employees are nested in service points, so
    the employee intercept carries both variances, (var_employee + var_service_point) /
    (that + pi^2/3) — not the conditional ICC of the ``effects`` list.
    """
    truth = model_term_truths(params)
    med, bm = params["mediator"], params["latent"]["felt_valued_slope"]
    lat = params["latent"]
    v = lat["sd_employee"] ** 2 + lat["sd_service_point"] ** 2
    rows = {
        "H1": {"eye_contact": truth["eye_contact"]},
        "H2": {"greeting": truth["greeting"]},
        "H3": {"smile[polite]": truth["smile[polite]"], "smile[genuine]": truth["smile[genuine]"],
               "smile[genuine] - smile[polite]": truth["smile[genuine]"] - truth["smile[polite]"]},
        "H4": {"resolved": truth["resolved"], "resolved:empathy": truth["resolved:empathy"]},
        "H5": {"wait_min": truth["wait_min"], "wait_min:acknowledged_wait": truth["wait_min:acknowledged_wait"]},
        "H6": {"apology - explanation": truth["apology"] - truth["explanation"]},
        "H7": {"phone_use": truth["phone_use"], "scripted": truth["scripted"], "upselling": truth["upselling"]},
        "H8": {"service_failure:returning_customer": truth["service_failure:returning_customer"]},
        "H9": {"abs(service_failure) - resolved": abs(truth["service_failure"]) - truth["resolved"]},
        "H10": {"icc_employee": v / (v + math.pi ** 2 / 3)},
        "H11": {"indirect: smile[genuine]": med["a_genuine"] * bm},
        "H12": {"referral": truth["referral"]},
    }
    return {h: {k: round(float(x), 6) for k, x in r.items()} for h, r in rows.items()}
