"""The tidy result contract shared by every fitter in :mod:`svcresearch.models`."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

PARAM_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]


def tidy_params(terms, estimate, vcov: np.ndarray, *, confidence: float = 0.95) -> pd.DataFrame:
    """Wald table: statistic = estimate / SE, two-sided normal p, normal-quantile CI."""
    estimate = np.asarray(estimate, dtype=float)
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = estimate / se
    zq = stats.norm.ppf(0.5 + confidence / 2)
    return pd.DataFrame({
        "term": list(terms), "estimate": estimate, "std_error": se, "statistic": stat,
        "p_value": 2 * stats.norm.sf(np.abs(stat)),
        "ci_low": estimate - zq * se, "ci_high": estimate + zq * se,
    })


class ModelResult:
    """Fitted model under the tidy contract of ``docs/study_layout.md`` ("Model results").

    Attributes
    ----------
    params : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_low, ci_high``.
    vcov : DataFrame
        Covariance matrix of the estimates, indexed and columned by term.
    loglik : float
        Log-likelihood (the restricted one for REML linear mixed models, as lme4 reports).
    nobs : int
        Rows used (after dropping missing values).
    n_dropped : int
        Rows dropped because a used column was missing.
    aic : float
        ``-2 loglik + 2 k`` with ``k`` the number of estimated parameters (incl. variances).
    converged : bool
    variance_components : DataFrame or None
        ``group, variance, std`` for models with random effects, else None.
    formula, link, method : str
    """

    kind = "model"

    def __init__(self, *, params: pd.DataFrame, vcov: pd.DataFrame, loglik: float, nobs: int,
                 n_dropped: int, n_params: int, converged: bool, formula: str, link: str,
                 method: str, variance_components: pd.DataFrame | None = None,
                 n_groups: int | None = None, notes: list[str] | None = None):
        self.params = params
        self.vcov = vcov
        self.loglik = float(loglik)
        self.nobs = int(nobs)
        self.n_dropped = int(n_dropped)
        self.n_params = int(n_params)
        self.aic = -2.0 * self.loglik + 2.0 * self.n_params
        self.converged = bool(converged)
        self.formula = formula
        self.link = link
        self.method = method
        self.variance_components = variance_components
        self.n_groups = n_groups
        self.notes = list(notes or [])

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.n_params

    def _header(self) -> list[str]:
        lines = [f"{type(self).__name__}: {self.formula}",
                 f"  method={self.method}, link={self.link}, nobs={self.nobs}"
                 + (f" (dropped {self.n_dropped} rows with missing values)" if self.n_dropped else "")
                 + (f", groups={self.n_groups}" if self.n_groups is not None else ""),
                 f"  loglik={self.loglik:.4f}, aic={self.aic:.2f}, converged={self.converged}"]
        return lines

    def summary(self) -> str:
        """Readable text summary: header, parameter table, variance components, notes."""
        lines = self._header()
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            lines += ["", self.params.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
            if self.variance_components is not None:
                lines += ["", "Variance components:",
                          self.variance_components.to_string(index=False,
                                                             float_format=lambda v: f"{v:.4f}")]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
