"""Models of how the coded behaviours predict satisfaction.

All fitters take ``data`` first and a formula, and return results under one tidy contract
(``docs/study_layout.md``, "Model results"): ``.params`` with columns
``term, estimate, std_error, statistic, p_value, ci_low, ci_high``, ``.vcov``, ``.loglik``,
``.nobs``, ``.aic``, ``.converged``, ``.variance_components``, ``.formula``, ``.link``.

- :func:`fit_ordinal` -- proportional-odds model (R ``ordinal::clm``), with ``groups`` a random
  intercept model (R ``ordinal::clmm``, Laplace or adaptive Gauss-Hermite quadrature).
- :func:`fit_mixed` -- linear mixed model with a random intercept (R ``lme4::lmer``).
- :func:`fit_logistic` -- logistic regression with cluster-robust SEs or GEE (R ``glm``,
  ``sandwich::vcovCL``, ``geepack::geeglm``).
"""
from ._results import ModelResult
from .logistic import LogisticResult, fit_logistic
from .mixed import MixedResult, fit_mixed
from .ordinal import OrdinalResult, fit_ordinal

__all__ = ["fit_ordinal", "fit_mixed", "fit_logistic", "ModelResult", "OrdinalResult",
           "MixedResult", "LogisticResult"]
