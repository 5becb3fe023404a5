"""Power and sample-size planning for coded service encounters, analytic and by simulation.

"How many encounters and employees do I need?" depends on the effect, on how common the
behaviour is, on how much employees differ, and on how well coders agree: misclassification
shrinks a coded behaviour's effect roughly by the coder kappa, so a study planned with perfect
codes is underpowered.

* :func:`analytic_power` — closed forms, no clustering: Whitehead (1993) for a binary behaviour
  and an ordinal outcome (proportional odds; as R ``Hmisc::popower``), the normal approximation
  for a continuous outcome (as ``statsmodels`` ``NormalIndPower``); coder error enters as the
  regression-dilution factor of a misclassified binary predictor.
* :func:`power_replication` / :func:`simulated_power` / :func:`power_grid` — simulation of the
  *planned analysis*: encounters spread over employees, a random intercept per employee, the
  behaviour's prevalence varying between employees, coders with a given kappa, a double-coded
  share whose disagreements are adjudicated, non-response; then the ordinal mixed model
  (``fit_ordinal(..., groups=...)``, validated against R ``clmm``) or the linear mixed model.
  Replications run through :func:`svcresearch.recovery.run_replications` (parallel, resumable).
* :func:`power_curve_plot` and :func:`planning_sentence` present the grid.

A :class:`PowerDesign` describes one planned study; :func:`design_from_study` fills one in from a
study's codebook, hypotheses and processed data (any study: its own outcome, behaviour and groups).

Assumptions of the simulation (stated in every result's ``attrs["assumptions"]``)
----------------------------------------------------------------------------------
* The planning model is ``outcome ~ behaviour + (1 | group)`` (the study's grouping variable)
  among encounters where the behaviour applies; the effect is the conditional log odds ratio (ordinal) or difference in
  outcome units (continuous) in that model.
* Coders err symmetrically at a rate ``e`` chosen so that two independent coders agree with
  Cohen's kappa = ``kappa`` at the behaviour's prevalence; a double-coded encounter on which the
  two coders disagree is adjudicated correctly, so it is wrong only when both erred (``e**2``).
* Non-response is completely at random.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import check_dataframe, check_number, check_option, check_type

FAMILIES = ("ordinal", "continuous")
POWER_COLUMNS = ["n_encounters", "n_employees", "double_coded_share", "kappa", "power", "power_mc_se",
                 "n_replications", "n_failed", "mean_estimate", "mean_n_used", "analytic_power"]


# ----------------------------------------------------------------------------------------------
# Coder error
# ----------------------------------------------------------------------------------------------
def kappa_of_error_rate(error_rate: float, *, prevalence: float) -> float:
    """Cohen's kappa of two independent coders who each misclassify a binary behaviour at
    ``error_rate`` (both directions) when its true prevalence is ``prevalence``."""
    e, p = float(error_rate), float(prevalence)
    q = p * (1 - e) + (1 - p) * e                   # each coder's observed 'yes' rate
    p_o = (1 - e) ** 2 + e ** 2
    p_e = q * q + (1 - q) * (1 - q)
    return (p_o - p_e) / (1 - p_e)


def error_rate_for_kappa(kappa: float, *, prevalence: float) -> float:
    """Symmetric error rate ``e`` in [0, 0.5) giving inter-coder ``kappa`` (inverse of
    :func:`kappa_of_error_rate`, by bisection; kappa 1 -> 0)."""
    check_number("kappa", kappa, low=0.0, high=1.0)
    check_number("prevalence", prevalence, low=1e-6, high=1 - 1e-6)
    if kappa >= 1.0:
        return 0.0
    lo, hi = 0.0, 0.5
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if kappa_of_error_rate(mid, prevalence=prevalence) > kappa:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def attenuation(kappa: float, *, prevalence: float, double_coded_share: float = 0.0) -> float:
    """Regression-dilution factor of a misclassified binary behaviour: slope on the coded value
    over slope on the true value, ``p(1-p)(1-2e) / (q(1-q))`` with ``q`` the coded prevalence and
    ``e`` the effective error rate (:func:`error_rate_for_kappa`; ``e**2`` on the double-coded,
    adjudicated share). Exact for a linear model; a first-order approximation for logits."""
    e1 = error_rate_for_kappa(kappa, prevalence=prevalence)
    e = (1 - double_coded_share) * e1 + double_coded_share * e1 * e1
    p = prevalence
    q = p * (1 - e) + (1 - p) * e
    return p * (1 - p) * (1 - 2 * e) / (q * (1 - q))


# ----------------------------------------------------------------------------------------------
# Analytic power
# ----------------------------------------------------------------------------------------------
def analytic_power(*, n: float, effect: float, prevalence: float = 0.5, family: str = "ordinal",
                   category_probabilities: Sequence[float] | None = None, outcome_sd: float = 1.0,
                   kappa: float = 1.0, double_coded_share: float = 0.0, alpha: float = 0.05) -> float:
    """Power of a two-sided test of a binary behaviour's effect, no clustering.

    Parameters
    ----------
    n : float
        Encounters analysed (rated, behaviour applicable).
    effect : float
        Log odds ratio (ordinal) or difference in outcome units (continuous).
    prevalence : float
        Share of encounters with the behaviour (``n1 = n * prevalence``).
    family : {"ordinal", "continuous"}
    category_probabilities : sequence of float, optional
        Ordinal: the outcome's category probabilities averaged over the two groups (sum to 1).
    outcome_sd : float
        Continuous: residual SD.
    kappa, double_coded_share : float
        Coder agreement and adjudicated share; the effect is multiplied by :func:`attenuation`.
    alpha : float
        Two-sided significance level.

    Returns
    -------
    float

    Notes
    -----
    Ordinal: Whitehead J. (1993), Sample size calculations for ordered categorical data,
    *Statistics in Medicine* 12:2257-2271: ``V = n1 n2 n / (3 (n+1)^2) (1 - sum p_j^3)``,
    power ``= Phi(|log OR| sqrt(V) - z_{1-alpha/2})`` — the formula of R ``Hmisc::popower``.
    Continuous: ``se = sd sqrt(1/n1 + 1/n2)``, power ``= Phi(d/se - z) + Phi(-d/se - z)``, as
    ``statsmodels.stats.power.NormalIndPower``. Validated in tests/test_power.py against
    statsmodels, Cohen's (1988) d = .5 / 64 per group ≈ .80, and the binary special case of
    Whitehead's formula. Clustering is ignored: compare with :func:`simulated_power`.
    """
    check_option("family", family, FAMILIES)
    check_number("n", n, low=2)
    check_number("effect", effect)
    check_number("prevalence", prevalence, low=1e-6, high=1 - 1e-6)
    check_number("alpha", alpha, low=1e-8, high=0.5)
    check_number("double_coded_share", double_coded_share, low=0.0, high=1.0)
    z = stats.norm.ppf(1 - alpha / 2)
    d = abs(effect) * attenuation(kappa, prevalence=prevalence, double_coded_share=double_coded_share)
    n1, n2 = n * prevalence, n * (1 - prevalence)
    if family == "ordinal":
        if category_probabilities is None:
            raise ValueError("`category_probabilities` is required for family='ordinal' (the outcome's category "
                             "probabilities, summing to 1).")
        p = np.asarray(category_probabilities, dtype=float)
        if p.ndim != 1 or len(p) < 2 or np.any(p < 0) or abs(p.sum() - 1) > 1e-6:
            raise ValueError(f"`category_probabilities` must be two or more probabilities summing to 1; got {list(p)}.")
        v = n1 * n2 * n / (3 * (n + 1) ** 2) * (1 - np.sum(p ** 3))
        return float(stats.norm.cdf(d * math.sqrt(v) - z) + stats.norm.cdf(-d * math.sqrt(v) - z))
    check_number("outcome_sd", outcome_sd, low=1e-12)
    se = outcome_sd * math.sqrt(1 / n1 + 1 / n2)
    return float(stats.norm.cdf(d / se - z) + stats.norm.cdf(-d / se - z))


# ----------------------------------------------------------------------------------------------
# The planned study
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerDesign:
    """One planned study and the effect to detect (see the module's assumptions).

    Attributes
    ----------
    effect : float
        Log odds ratio (ordinal) or difference in outcome units (continuous).
    family : {"ordinal", "continuous"}
    n_encounters, n_employees : int
        Encounters filmed or recorded, and the employees they are spread over (uniformly).
    prevalence : float
        P(behaviour) where it applies, at an average employee.
    applicable_share : float
        Share of encounters where the behaviour applies (e.g. face to face only).
    response_rate : float
        Share of encounters with an outcome (survey response).
    category_probabilities : tuple of float
        Ordinal outcome's category probabilities without the behaviour at an average employee.
    outcome_sd : float
        Continuous outcome's residual SD.
    group_sd : float
        SD of the employee random intercept (latent logit scale for ordinal outcomes).
    propensity_sd : float
        SD of the employees' propensity (logit) to show the behaviour.
    kappa : float
        Inter-coder Cohen's kappa of the behaviour (1 = perfect codes).
    double_coded_share : float
        Share of encounters coded twice, disagreements adjudicated.
    alpha : float
        Two-sided significance level.
    behaviour, outcome, employees : str
        Names used in sentences and tables.
    """

    effect: float = math.log(1.3)
    family: str = "ordinal"
    n_encounters: int = 2400
    n_employees: int = 48
    prevalence: float = 0.5
    applicable_share: float = 1.0
    response_rate: float = 0.7
    category_probabilities: tuple = (0.04, 0.07, 0.19, 0.35, 0.35)
    outcome_sd: float = 1.0
    group_sd: float = 0.56
    propensity_sd: float = 0.5
    kappa: float = 1.0
    double_coded_share: float = 0.3
    alpha: float = 0.05
    behaviour: str = "the behaviour"
    outcome: str = "the outcome"
    employees: str = "employees"

    def __post_init__(self):
        check_option("family", self.family, FAMILIES)
        check_number("effect", self.effect)
        check_number("n_encounters", self.n_encounters, low=10, integer=True)
        check_number("n_employees", self.n_employees, low=2, integer=True)
        for name in ("prevalence", "applicable_share", "response_rate"):
            check_number(name, getattr(self, name), low=1e-6, high=1.0)
        check_number("kappa", self.kappa, low=0.0, high=1.0)
        check_number("double_coded_share", self.double_coded_share, low=0.0, high=1.0)
        check_number("group_sd", self.group_sd, low=0.0)
        check_number("propensity_sd", self.propensity_sd, low=0.0)
        check_number("outcome_sd", self.outcome_sd, low=1e-12)
        check_number("alpha", self.alpha, low=1e-8, high=0.5)
        p = np.asarray(self.category_probabilities, dtype=float)
        if p.ndim != 1 or len(p) < 2 or np.any(p <= 0) or abs(p.sum() - 1) > 1e-6:
            raise ValueError(f"`category_probabilities` must be two or more positive probabilities summing to 1; "
                             f"got {self.category_probabilities!r}.")

    @property
    def n_expected(self) -> float:
        """Expected encounters analysed: encounters × applicable share × response rate."""
        return self.n_encounters * self.applicable_share * self.response_rate

    def key(self) -> str:
        """Short hash of every field (file name of a resumable power point)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:12]


def default_design(*, claim: str | None = None, effect: float | None = None) -> PowerDesign:
    """The simulated default study's design for one of its binary behaviours.

    Lives with the simulator (:func:`svcresearch.simulate.planning.default_design`), which knows
    the default study's parameters; ``claim`` defaults to the behaviour the simulator plans for.
    """
    from svcresearch.simulate.planning import default_design as simulator_design

    return simulator_design(claim=claim, effect=effect)


def design_from_study(study, *, behaviour: str, effect: float, where: Mapping | None = None,
                      kappa: float | None = None) -> PowerDesign:
    """A :class:`PowerDesign` from a study's own data (any study; :func:`svcresearch.study.current`).

    Parameters
    ----------
    study : svcresearch.study.Study
        The study (its processed encounters, codebook and hypotheses file's model).
    behaviour : str
        A binary behaviour of its codebook.
    effect : float
        The effect to detect (log odds ratio for an ordinal outcome, outcome units otherwise).
    where : dict, optional
        ``{variable, op, value}`` subset where the claim is tested.
    kappa : float, optional
        Coder kappa (default: Cohen's kappa of the behaviour in ``coding_long``; 1 when the study
        has no double coding).

    Notes
    -----
    Outcome category probabilities, prevalence, applicability and response rate are the
    study's observed shares; the employee SD is from a random-intercept model without
    predictors (``fit_ordinal``/``fit_mixed``), so the design inherits the pilot's uncertainty.
    """
    from svcresearch import modelframe as mfm
    from svcresearch.hypotheses import load_hypotheses, model_from_codebook

    check_number("effect", effect)
    codebook = study.codebook
    spec = load_hypotheses(study.hypotheses_path, codebook=codebook).model if study.hypotheses_path \
        else model_from_codebook(codebook)
    var = mfm.find_variable(codebook, behaviour)
    if var is None or var.type != "binary":
        raise ValueError(f"`behaviour` must be a binary behaviour of the study's codebook; got {behaviour!r}.")
    data = study.encounters()
    inside = mfm.condition_mask(data, where, codebook)
    na = mfm.not_applicable(data, var, codebook)
    out_var = mfm.find_variable(codebook, spec.outcome)
    family = "ordinal" if out_var.type == "ordinal" else "continuous"
    rated = data[spec.outcome].notna() & inside
    used = rated & ~na & data[var.out_name].notna()
    x = data.loc[used, var.out_name].astype(float)
    frame = mfm.model_frame(data.loc[inside], codebook=codebook, outcome=spec.outcome, terms=[], groups=spec.groups)
    fit = frame.fit()
    group_sd = 0.0
    if fit.ok and getattr(fit.result, "variance_components", None) is not None:
        group_sd = float(fit.result.variance_components["std"].iloc[0])
    y = data.loc[used & (x.reindex(data.index) == 0).fillna(False), spec.outcome]
    if family == "ordinal":
        levels = list(out_var.value_set.levels) if out_var.value_set is not None else sorted(y.dropna().unique())
        counts = y.astype("string").value_counts().reindex([str(v) for v in levels]).fillna(0).to_numpy() + 0.5
        probs, sd = tuple(counts / counts.sum()), 1.0
    else:
        probs, sd = (0.5, 0.5), float(pd.to_numeric(data.loc[used, spec.outcome]).std())
    if kappa is None:
        kappa = _study_kappa(study, var.name)
    n_emp = int(data.loc[inside, spec.groups].nunique()) if spec.groups else max(2, int(inside.sum()) // 50)
    labels = study.labels()
    return PowerDesign(effect=float(effect), family=family, n_encounters=int(inside.sum()), n_employees=max(2, n_emp),
                       prevalence=float(np.clip(x.mean(), 0.01, 0.99)),
                       applicable_share=float(np.clip((~na & inside).sum() / max(1, inside.sum()), 0.01, 1.0)),
                       response_rate=float(np.clip(rated.sum() / max(1, inside.sum()), 0.01, 1.0)),
                       category_probabilities=probs, outcome_sd=sd if family == "continuous" else 1.0,
                       group_sd=group_sd, kappa=float(kappa),
                       double_coded_share=float(data["double_coded"].mean()) if "double_coded" in data else 0.0,
                       behaviour=labels.get(var.out_name, var.out_name).lower(),
                       outcome=labels.get(spec.outcome, spec.outcome).lower(),
                       employees=(spec.groups.replace("_", " ") + "s") if spec.groups else "employees")


def _study_kappa(study, behaviour: str) -> float:
    from svcresearch.reliability import cohen_kappa

    try:
        long = study.coding_long()
    except (FileNotFoundError, OSError):
        return 1.0
    sub = long.loc[long["behaviour"] == behaviour] if "behaviour" in long.columns else None
    if sub is None or sub.empty or sub["coder"].nunique() < 2:
        return 1.0
    unit = "encounter_id" if "encounter_id" in sub.columns else sub.columns[0]
    value = "value" if "value" in sub.columns else sub.columns[-1]
    try:
        k = cohen_kappa(sub, unit=unit, rater="coder", value=value)
    except (ValueError, TypeError, KeyError):
        return 1.0
    return float(np.clip(k, 0.0, 1.0)) if np.isfinite(k) else 1.0


# ----------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------
def simulate_planned(design: PowerDesign, *, seed: int) -> pd.DataFrame:
    """One simulated data set of the planned study: rows analysed (rated, behaviour applicable).

    Columns ``employee, x_true, x`` (coded), ``y``. See the module's assumptions.
    """
    d = design
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 12]))
    n, J = d.n_encounters, d.n_employees
    employee = rng.integers(0, J, n)
    u = rng.normal(0.0, d.group_sd, J)[employee]
    prop = rng.normal(0.0, d.propensity_sd, J)[employee]
    x = rng.random(n) < 1 / (1 + np.exp(-(math.log(d.prevalence / (1 - d.prevalence)) + prop)))
    applicable = rng.random(n) < d.applicable_share
    rated = rng.random(n) < d.response_rate
    e1 = error_rate_for_kappa(d.kappa, prevalence=d.prevalence)
    double = rng.random(n) < d.double_coded_share
    err = rng.random(n) < np.where(double, e1 * e1, e1)
    coded = x ^ err
    if d.family == "ordinal":
        tau = stats.logistic.ppf(np.cumsum(d.category_probabilities)[:-1])
        ystar = d.effect * x + u + rng.logistic(size=n)
        y = np.searchsorted(tau, ystar) + 1
    else:
        y = d.effect * x + u + rng.normal(0.0, d.outcome_sd, n)
    keep = applicable & rated
    return pd.DataFrame({"employee": employee[keep].astype(str), "x_true": x[keep].astype(float),
                         "x": coded[keep].astype(float), "y": y[keep]})


def power_replication(seed: int, *, design: PowerDesign, codes: str = "coded") -> pd.DataFrame:
    """One replication of the planned analysis: simulate, fit the mixed model, test the effect.

    Returns one row: ``estimate, std_error, p_value, significant`` (two-sided p < alpha with the
    effect's sign), ``n_used``, ``converged``. ``codes="true"`` fits the true behaviour instead.
    """
    from svcresearch.models import fit_mixed, fit_ordinal

    check_option("codes", codes, ("coded", "true"))
    data = simulate_planned(design, seed=seed)
    col = "x" if codes == "coded" else "x_true"
    formula = f"y ~ {col}"
    row = {"estimate": np.nan, "std_error": np.nan, "p_value": np.nan, "significant": False,
           "n_used": len(data), "converged": False}
    if data[col].nunique() < 2 or data["y"].nunique() < 2:
        return pd.DataFrame([row])
    try:
        if design.family == "ordinal":
            res = fit_ordinal(data, formula, groups="employee" if design.group_sd > 0 else None)
        else:
            res = fit_mixed(data, formula, groups="employee", reml=True)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return pd.DataFrame([row])
    p = res.params.set_index("term").loc[col]
    sign_ok = np.sign(p["estimate"]) == np.sign(design.effect) if design.effect != 0 else True
    row.update(estimate=float(p["estimate"]), std_error=float(p["std_error"]), p_value=float(p["p_value"]),
               significant=bool(p["p_value"] < design.alpha and sign_ok), converged=bool(res.converged))
    return pd.DataFrame([row])


def simulated_power(design: PowerDesign, *, n_replications: int = 200, seed: int = 1, n_jobs: int = 2,
                    path: str | Path | None = None, progress: bool = False) -> dict:
    """Power of the planned analysis by simulation, with its Monte Carlo SE.

    Parameters
    ----------
    design : PowerDesign
    n_replications : int
        Simulated studies (MC SE of power ≤ .5/√R: .035 at 200, .016 at 1,000).
    seed : int
        First seed; seeds ``seed … seed + R - 1`` (the same seeds at every grid point: common
        random numbers make curves smooth).
    n_jobs : int
        Worker processes.
    path : path, optional
        Folder for resumable results (one JSON-lines file per design, named by its hash).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``power, power_mc_se, n_replications, n_failed, mean_estimate, mean_n_used, analytic_power``
        (the Whitehead/normal formula at the mean rows analysed, ignoring clustering).
    """
    from svcresearch.recovery import run_replications

    check_type("design", design, PowerDesign)
    check_number("n_replications", n_replications, low=1, integer=True)
    file = None if path is None else Path(path) / f"power_{design.key()}.jsonl"
    res = run_replications(partial(power_replication, design=design), seeds=range(seed, seed + n_replications),
                           path=file, n_jobs=n_jobs, progress=progress, desc="power")
    ok = res.loc[res["converged"].astype(bool)] if len(res) else res
    r = len(ok)
    pw = float(ok["significant"].astype(float).mean()) if r else np.nan
    n_used = float(res["n_used"].mean()) if len(res) else design.n_expected
    ana = analytic_power(n=max(n_used, 2.0), effect=design.effect, prevalence=design.prevalence, family=design.family,
                         category_probabilities=design.category_probabilities, outcome_sd=design.outcome_sd,
                         kappa=design.kappa, double_coded_share=design.double_coded_share, alpha=design.alpha)
    return {"power": pw, "power_mc_se": math.sqrt(pw * (1 - pw) / r) if r else np.nan, "n_replications": r,
            "n_failed": n_replications - r, "mean_estimate": float(ok["estimate"].mean()) if r else np.nan,
            "mean_n_used": n_used, "analytic_power": ana}


def power_grid(design: PowerDesign, *, encounters: Iterable[int], employees: Iterable[int],
               double_coded: Iterable[float] = (0.3,), kappa: Iterable[float] = (1.0,), n_replications: int = 200,
               seed: int = 1, n_jobs: int = 2, path: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Simulated power over encounters × employees × double-coded share × kappa.

    Returns a tidy table (:data:`POWER_COLUMNS`), one row per grid point;
    ``attrs["design"]`` is the base design and ``attrs["assumptions"]`` the module's assumptions.
    """
    check_type("design", design, PowerDesign)
    points = [(int(n), int(j), float(s), float(k)) for k in kappa for s in double_coded for j in employees
              for n in encounters]
    if not points:
        raise ValueError("the grid is empty: give at least one value of encounters, employees, double_coded and kappa.")
    from tqdm.auto import tqdm

    rows = []
    for n, j, s, k in tqdm(points, desc="power grid", unit="point", disable=not progress):
        d = replace(design, n_encounters=n, n_employees=j, double_coded_share=s, kappa=k)
        rows.append({"n_encounters": n, "n_employees": j, "double_coded_share": s, "kappa": k,
                     **simulated_power(d, n_replications=n_replications, seed=seed, n_jobs=n_jobs, path=path)})
    out = pd.DataFrame(rows, columns=POWER_COLUMNS)
    out.attrs["design"] = design
    out.attrs["assumptions"] = __doc__.split("Assumptions of the simulation", 1)[1].split("\n", 2)[2].strip()
    return out


# ----------------------------------------------------------------------------------------------
# Presentation
# ----------------------------------------------------------------------------------------------
def power_curve_plot(grid: pd.DataFrame, *, target: float = 0.8, width: str | float = "double"):
    """Power against encounters, a line per number of employees, a panel per kappa, with ±1.96 MC SE bands.

    Returns a matplotlib Figure (save it with :func:`svcresearch.figures.save_figure`).
    """
    import matplotlib.pyplot as plt

    from svcresearch.figures import _resolve_width, paper_theme

    check_dataframe("grid", grid, columns=["n_encounters", "n_employees", "kappa", "power", "power_mc_se"])
    kappas = sorted(grid["kappa"].unique(), reverse=True)
    with paper_theme():
        w = _resolve_width(width)
        fig, axes = plt.subplots(1, len(kappas), figsize=(w, 2.4), sharey=True, squeeze=False)
        colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2", "C3"])
        for ax, k in zip(axes[0], kappas):
            sub = grid.loc[grid["kappa"] == k]
            for i, (j, g) in enumerate(sub.groupby("n_employees")):
                g = g.groupby("n_encounters", as_index=False)[["power", "power_mc_se"]].mean().sort_values("n_encounters")
                c = colours[i % len(colours)]
                ax.plot(g["n_encounters"], g["power"], marker="o", ms=2.5, color=c, label=f"{j}")
                ax.fill_between(g["n_encounters"], (g["power"] - 1.96 * g["power_mc_se"]).clip(0, 1),
                                (g["power"] + 1.96 * g["power_mc_se"]).clip(0, 1), color=c, alpha=0.15, lw=0)
            ax.axhline(target, color="0.5", lw=0.6, ls="--")
            ax.set_title(f"κ = {k:.2f}".rstrip("0").rstrip("."))
            ax.set_xlabel("Encounters")
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("Power")
        axes[0][-1].legend(title=grid.attrs.get("design").employees.capitalize() if grid.attrs.get("design")
                           else "Employees", fontsize="small", title_fontsize="small", frameon=False)
    return fig


def required_encounters(grid: pd.DataFrame, *, target: float = 0.8, kappa: float | None = None,
                        n_employees: int | None = None, double_coded_share: float | None = None) -> pd.DataFrame:
    """Fewest encounters reaching ``target`` power per (kappa, employees, double-coded share),
    by linear interpolation between grid points (NaN when no grid point reaches it)."""
    check_dataframe("grid", grid, columns=["n_encounters", "n_employees", "kappa", "double_coded_share", "power"])
    check_number("target", target, low=0.01, high=0.999)
    sub = grid
    for col, val in (("kappa", kappa), ("n_employees", n_employees), ("double_coded_share", double_coded_share)):
        if val is not None:
            sub = sub.loc[np.isclose(sub[col].astype(float), float(val))]
    rows = []
    for key, g in sub.groupby(["kappa", "n_employees", "double_coded_share"]):
        g = g.sort_values("n_encounters")
        n, p = g["n_encounters"].to_numpy(float), g["power"].to_numpy(float)
        need = np.nan
        hit = np.flatnonzero(p >= target)
        if len(hit):
            i = hit[0]
            need = n[0] if i == 0 else n[i - 1] + (target - p[i - 1]) * (n[i] - n[i - 1]) / (p[i] - p[i - 1])
        rows.append({"kappa": key[0], "n_employees": key[1], "double_coded_share": key[2],
                     "required_encounters": need})
    return pd.DataFrame(rows, columns=["kappa", "n_employees", "double_coded_share", "required_encounters"])


def _fmt_k(k: float) -> str:
    return f"{k:.2f}".rstrip("0").rstrip(".").replace("0.", ".", 1) if k < 1 else "1"


def planning_sentence(grid: pd.DataFrame, *, target: float = 0.8, kappa: float | None = None,
                      design: PowerDesign | None = None) -> str:
    """One sentence for a plan: "To detect OR = 1.3 for a behaviour with 80% power at κ = .8 you need
    about 1,900 encounters from 48 employees." (the fewest encounters over the grid's employee
    counts at that kappa; a sentence saying what the grid lacks when no point reaches the target).
    """
    check_dataframe("grid", grid, columns=["n_encounters", "n_employees", "kappa", "double_coded_share", "power"])
    design = design if design is not None else grid.attrs.get("design")
    check_type("design", design, PowerDesign, what="a PowerDesign (or a grid from power_grid)")
    if kappa is None:
        kappa = float(grid["kappa"].min())
    req = required_encounters(grid, target=target, kappa=kappa)
    if design.family == "ordinal":
        what = f"OR = {math.exp(design.effect):.2f}".rstrip("0").rstrip(".")
    else:
        what = f"a difference of {design.effect:.2g} points in {design.outcome}"
    pct = f"{target * 100:.0f}%"
    head = f"To detect {what} for {design.behaviour} with {pct} power at κ = {_fmt_k(kappa)}"
    ok = req.dropna(subset=["required_encounters"])
    if ok.empty:
        top = grid.loc[np.isclose(grid["kappa"], kappa)]
        best = top.loc[top["power"].idxmax()] if len(top) else None
        if best is None:
            return f"{head}: the grid has no point at κ = {_fmt_k(kappa)}."
        return (f"{head} you need more than the {int(best['n_encounters']):,} encounters from "
                f"{int(best['n_employees'])} {design.employees} of the grid (power there "
                f"{best['power']:.2f}); extend the grid.")
    best = ok.loc[ok["required_encounters"].idxmin()]
    n = int(math.ceil(best["required_encounters"] / 50.0 - 1e-9) * 50)   # up to a multiple of 50
    share = f"{best['double_coded_share'] * 100:.0f}% double-coded"
    return (f"{head} you need about {n:,} encounters from {int(best['n_employees'])} {design.employees} "
            f"({share}; {design.response_rate * 100:.0f}% survey response; simulated power, "
            f"Monte Carlo SE ≤ {grid['power_mc_se'].max():.2f}).")


def study_design(study, *, effect: float | None = None) -> PowerDesign:
    """The design to plan from for the active study (notebook 08).

    The default (simulated) study: :func:`default_design`. Any other study: the
    first binary behaviour tested by a ``term`` claim of its hypotheses file (else the first
    binary behaviour of its codebook) through :func:`design_from_study`, with ``effect``
    defaulting to log(1.3) for an ordinal outcome and 0.3 outcome SDs for a continuous one.
    """
    from svcresearch import modelframe as mfm
    from svcresearch.hypotheses import load_hypotheses

    if (study.raw_dir / "ground_truth.json").is_file():        # the simulated default study
        return default_design(effect=effect)
    codebook = study.codebook
    candidates = []
    if study.hypotheses_path:
        for claim in load_hypotheses(study.hypotheses_path, codebook=codebook).claims:
            for t in claim.tests:
                if t.kind == "term":
                    candidates.append((next(iter(t.weights)), claim.where))
    candidates += [(v.out_name, None) for v in codebook.behaviours]
    for name, where in candidates:
        var = mfm.find_variable(codebook, name)
        if var is not None and var.type == "binary":
            d = design_from_study(study, behaviour=var.out_name, effect=0.0 if effect is None else effect, where=where)
            if effect is None:
                d = replace(d, effect=math.log(1.3) if d.family == "ordinal" else 0.3 * d.outcome_sd)
            return d
    raise ValueError("the study has no binary coded behaviour to plan for.")


# ----------------------------------------------------------------------------------------------
# Notebook steps (notebook 08): each takes the previous step's result and passes a Note on
# ----------------------------------------------------------------------------------------------
def plan(study, *, effect: float | None = None):
    """The active study's :class:`PowerDesign`, or a Note saying why none can be made."""
    from svcresearch.modelframe import Note

    try:
        return study_design(study, effect=effect)
    except ValueError as exc:
        return Note(f"No power analysis for study '{study.name}': {exc}")


def plan_analytic_power(design) -> pd.DataFrame:
    """:func:`analytic_power` of a design (no clustering) as a one-row table, or the Note passed on."""
    from svcresearch.modelframe import Note

    if isinstance(design, Note):
        return design
    value = analytic_power(n=design.n_expected, effect=design.effect, prevalence=design.prevalence,
                           family=design.family, category_probabilities=design.category_probabilities,
                           outcome_sd=design.outcome_sd, kappa=design.kappa,
                           double_coded_share=design.double_coded_share)
    return pd.DataFrame({"Behaviour": [design.behaviour], "Encounters rated": [round(design.n_expected)],
                         "Effect": [round(design.effect, 3)], "Coder kappa": [design.kappa],
                         "Analytic power": [round(value, 3)]})


def plan_grid(design, *, n_replications: int = 200, seed: int = 1):
    """:func:`power_grid` around a design: half, the same and twice its encounters; half and all of
    its groups; kappa 1 and .8; its double-coded share. A Note is passed on."""
    from svcresearch.modelframe import Note

    if isinstance(design, Note):
        return design
    return power_grid(design, encounters=[design.n_encounters // 2, design.n_encounters, 2 * design.n_encounters],
                      employees=sorted({max(2, design.n_employees // 2), design.n_employees}), kappa=[1.0, 0.8],
                      double_coded=[design.double_coded_share], n_replications=n_replications, seed=seed,
                      progress=False)


def plan_curves(grid):
    """:func:`power_curve_plot` of a grid, or the Note passed on."""
    from svcresearch.modelframe import Note

    return grid if isinstance(grid, Note) else power_curve_plot(grid)


def plan_sentence(grid, *, kappa: float = 0.8):
    """:func:`planning_sentence` as a Note (it renders as one sentence), or the Note passed on."""
    from svcresearch.modelframe import Note

    return grid if isinstance(grid, Note) else Note(planning_sentence(grid, kappa=kappa))
