"""Replicated studies: a resumable, parallel replication runner and parameter recovery (DESIGN §7).

One simulated study misses about one row in twenty by chance, so whether the estimators are
unbiased and their intervals honest is judged over many replicated studies:

* :func:`run_replications` — the generic runner: calls ``replicate(seed)`` for every seed (in
  parallel processes, with a tqdm bar), appends each finished seed's rows to a JSON-lines file
  and skips seeds already in it, so an interrupted run resumes where it stopped. Any function
  that takes a seed and returns a tidy DataFrame can be run (the power simulations of
  :mod:`svcresearch.power` build on it).
* :func:`recovery_replication` — one replicated default study: simulate → clean → the study's
  hypotheses table, twice: with the behaviours the coders recorded (``pipeline``) and with the
  true behaviours substituted into the same cleaned encounters (``true_codes``).
* :func:`correction_replication` — the same study's main model three ways: ``true_codes``,
  ``pipeline`` (naive) and ``corrected`` (MC-SIMEX, :mod:`svcresearch.simex`, with the matrices
  estimated from that replication's double-coded encounters).
* :func:`summarise_recovery` — per arm and row: generative and pseudo-true values, mean
  estimate, bias with its Monte Carlo SE, empirical SD against the mean model SE, 95% coverage
  with its Monte Carlo SE. :func:`parameter_recovery` and :func:`correction_recovery` run and
  summarise (``make recovery``, ``make correction-recovery``).

Targets (what ``true_value`` means)
-----------------------------------
``generative`` is the simulator's parameter; ``pseudo_true`` is what the fitted model converges
to with true codes on a very large study (:mod:`svcresearch.simulate._pseudo`), the value the
hypotheses table compares against, with ``pseudo_true_se`` its own Monte Carlo error;
``pseudo_true_coded`` is the same limit with coder A's codes. Bias and coverage are reported
against ``pseudo_true`` for every arm (the pipeline's shortfall is then the cost of coder error,
and the corrected arm should close it), and additionally against each arm's own limit
(``pseudo_true_coded`` for the pipeline) and the generative value.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from svcresearch._validation import check_dataframe, check_number, check_option, check_type

ARMS = ("true_codes", "pipeline")
#: Arms of :func:`correction_replication` (``corrected``: MC-SIMEX of the pipeline's codes).
CORRECTION_ARMS = ARMS + ("corrected",)
#: ``hypothesis`` of the rows that are main-model coefficients rather than hypotheses rows.
MAIN_MODEL = "main model"
RESULT_COLUMNS = ["arm", "hypothesis", "term", "kind", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n"]
SUMMARY_COLUMNS = ["arm", "hypothesis", "term", "n_replications", "generative", "pseudo_true", "pseudo_true_se",
                   "pseudo_true_coded",
                   "mean_estimate", "bias", "bias_mc_se", "empirical_sd", "mean_se", "sd_se_ratio", "coverage",
                   "coverage_mc_se", "coverage_own_target", "coverage_generative"]
_KEY = "0123456789abcdef-replication-key"   # pseudonyms of simulated people: any fixed key will do


# ----------------------------------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------------------------------
def _jsonable(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    return value if isinstance(value, (int, str)) else str(value)


def read_replications(path: str | Path) -> dict[int, dict]:
    """Finished seeds in a runner's JSON-lines file: ``{seed: {"rows": [...]} or {"error": msg}}``.

    A truncated last line (a run killed while writing) is ignored; that seed is run again.
    """
    path = Path(path)
    done: dict[int, dict] = {}
    if not path.is_file():
        return done
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "seed" in rec:
                done[int(rec["seed"])] = rec
    return done


def _call(replicate, seed):
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):      # one BLAS thread per process: the processes are the parallelism
            out = replicate(seed)
    except Exception as exc:  # noqa: BLE001  a failed replication is recorded, not fatal
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return seed, None, f"{type(exc).__name__}: {first}"
    if not isinstance(out, pd.DataFrame):
        return seed, None, f"TypeError: replicate({seed}) returned {type(out).__name__}, expected a DataFrame"
    rows = [{k: _jsonable(v) for k, v in r.items()} for r in out.to_dict("records")]
    return seed, rows, None


def run_replications(replicate: Callable[[int], pd.DataFrame], *, seeds: Iterable[int], path: str | Path | None = None,
                     n_jobs: int = 2, progress: bool = True, desc: str = "replications",
                     retry_failed: bool = False, settings: Mapping | None = None) -> pd.DataFrame:
    """Run ``replicate(seed)`` for every seed, in parallel, resumably; return all rows.

    Parameters
    ----------
    replicate : callable
        ``replicate(seed) -> pandas.DataFrame`` (tidy rows of one replication). With ``n_jobs > 1``
        it must be picklable: a module-level function or a ``functools.partial`` of one.
    seeds : iterable of int
        One replication per seed (distinct, >= 0). The same seeds give the same table.
    path : str or Path, optional
        JSON-lines results file: one line per finished seed (``{"seed": s, "rows": [...]}``, or
        ``{"seed": s, "error": "..."}`` when the replication raised), appended and flushed as each
        finishes. Seeds already in it are not run again (resume); None keeps results in memory.
    n_jobs : int
        Worker processes (1 runs in this process). Each worker uses one BLAS thread.
    progress : bool
        Show a tqdm progress bar.
    desc : str
        Label of the progress bar.
    retry_failed : bool
        Run again the seeds that ``path`` records as failed (after fixing what made them fail);
        by default a failure is a result and is kept.
    settings : dict, optional
        What the replications depend on besides the seed (e.g. study size, simulations per
        lambda), stored with every record; resuming a ``path`` whose records were run with other
        settings is a ValueError rather than a silent mix.

    Returns
    -------
    pandas.DataFrame
        ``seed`` followed by the replication's columns, for the requested seeds only, ordered by
        seed then row (independent of finishing order and of ``n_jobs``). ``attrs["errors"]``
        maps seeds whose replication raised to the error's first line; ``attrs["n_run"]`` is the
        number of seeds run now (the rest came from ``path``).

    Notes
    -----
    Determinism and resume are tested in tests/test_power.py (same table with 1 and 2 jobs, a
    resumed run runs only the missing seeds).
    """
    if not callable(replicate):
        raise TypeError(f"`replicate` must be a function of a seed returning a DataFrame; got {type(replicate).__name__}.")
    seeds = list(seeds)
    for s in seeds:
        check_number("seeds", s, low=0, integer=True)
    if len(set(seeds)) != len(seeds):
        raise ValueError("`seeds` must be distinct; a seed given twice would be one replication counted twice.")
    check_number("n_jobs", n_jobs, low=1, high=64, integer=True)
    check_type("progress", progress, bool)
    check_type("retry_failed", retry_failed, bool)
    if path is not None:
        check_type("path", path, (str, Path), what="a path")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    done = read_replications(path) if path is not None else {}
    if settings is not None:
        check_type("settings", settings, Mapping, what="a dict")
        settings = {str(k): _jsonable(v) for k, v in settings.items()}
        other = next((rec["settings"] for s, rec in done.items() if s in set(seeds)
                      and "settings" in rec and rec["settings"] != settings), None)
        if other is not None:
            raise ValueError(f"{path}: its replications were run with {other}, this run has {settings}; "
                             f"use another runs file (or the same settings) so that runs are not mixed.")
    todo = [s for s in seeds if s not in done or (retry_failed and done[s].get("error"))]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(seeds), initial=len(seeds) - len(todo), desc=desc, unit="rep", disable=not progress)
    fh = path.open("a", encoding="utf-8") if path is not None else None
    if fh is not None and path.stat().st_size:
        with path.open("rb") as tail:               # a killed run may have left half a line: end it
            tail.seek(-1, os.SEEK_END)
            if tail.read(1) != b"\n":
                fh.write("\n")

    def record(seed, rows, error):
        rec = {"seed": int(seed), "error": error} if error else {"seed": int(seed), "rows": rows}
        if settings is not None:
            rec["settings"] = settings
        done[int(seed)] = rec
        if fh is not None:
            fh.write(json.dumps(rec, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        bar.update(1)

    try:
        if n_jobs == 1 or len(todo) <= 1:
            for s in todo:
                record(*_call(replicate, s))
        elif todo:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(todo)), mp_context=ctx) as pool:
                futures = [pool.submit(_call, replicate, s) for s in todo]
                for fut in as_completed(futures):
                    record(*fut.result())
    finally:
        bar.close()
        if fh is not None:
            fh.close()
    frames, errors = [], {}
    for s in sorted(seeds):
        rec = done[s]
        if rec.get("error"):
            errors[s] = rec["error"]
            continue
        part = pd.DataFrame(rec["rows"])
        part.insert(0, "seed", s)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"seed": pd.Series(dtype=int)})
    out.attrs["errors"] = errors
    out.attrs["n_run"] = len(todo)
    return out


# ----------------------------------------------------------------------------------------------
# Parameter recovery of the default study
# ----------------------------------------------------------------------------------------------
def _true_code_frame(encounters: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """The cleaned encounters with every coded behaviour replaced by its true value and status
    (:func:`svcresearch.simulate.planning.true_code_frame`)."""
    from svcresearch.simulate.planning import true_code_frame

    return true_code_frame(encounters, truth)


def _rows(table: pd.DataFrame, arm: str) -> pd.DataFrame:
    out = table[["hypothesis", "term", "kind", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n"]].copy()
    out.attrs = {}                      # the fitted models stay behind (not data)
    out.insert(0, "arm", arm)
    out["n"] = out["n"].astype("float")
    return out


def _simulated_study(seed: int, *, n_encounters: int, parameters: dict | None, workdir) -> dict:
    """Simulate one default study to files and clean it as a user's study is cleaned (temporary folder)."""
    from svcresearch.clean import clean_study
    from svcresearch.codebook import load_codebook
    from svcresearch.hypotheses import load_hypotheses
    from svcresearch.simulate import simulate_study

    with tempfile.TemporaryDirectory(prefix="svc_rep_", dir=workdir) as tmp:
        tmp = Path(tmp)
        key = tmp / "key"
        key.write_text(_KEY, encoding="utf-8")
        key.chmod(0o600)
        simulate_study(n_encounters=n_encounters, seed=int(seed), out=tmp / "raw", parameters=parameters)
        clean_study(tmp / "raw", out=tmp / "processed", progress=False, key_path=key)
        codebook = load_codebook(tmp / "raw" / "codebook.yaml")
        return {"encounters": pd.read_parquet(tmp / "processed" / "encounters.parquet"),
                "coding_long": pd.read_parquet(tmp / "processed" / "coding_long.parquet"),
                "codebook": codebook,
                "hypotheses": load_hypotheses(tmp / "raw" / "hypotheses.yaml", codebook=codebook)}


def recovery_replication(seed: int, *, n_encounters: int = 2400, parameters: dict | None = None,
                         arms: Iterable[str] = ARMS, workdir: str | Path | None = None) -> pd.DataFrame:
    """One replicated default study: simulate → clean → hypotheses table, per arm.

    Parameters
    ----------
    seed : int
        Seed of :func:`svcresearch.simulate.simulate_study`.
    n_encounters : int
        Study size (default as the default study).
    parameters : dict, optional
        Simulator parameter overrides.
    arms : iterable of {"true_codes", "pipeline"}
        ``pipeline``: the cleaned encounters as they are (coder A's codes after consensus);
        ``true_codes``: the same cleaned encounters (same rows, outcomes, context and faults) with
        every coded behaviour replaced by its true value and true applicability.
    workdir : path, optional
        Folder for the temporary raw and processed files (default: the system's temp folder).

    Returns
    -------
    pandas.DataFrame
        ``arm, hypothesis, term, kind, estimate, std_error, ci_low, ci_high, p_value, n`` — one
        row per arm and hypotheses-table row.

    Notes
    -----
    The study goes through the files and the cleaner exactly as a user's study does
    (:func:`svcresearch.clean.clean_study`), then :func:`svcresearch.hypotheses.run_hypotheses`.
    """
    from svcresearch.hypotheses import run_hypotheses
    from svcresearch.simulate import study_truth

    arms = list(arms)
    for a in arms:
        check_option("arms", a, ARMS)
    study = _simulated_study(seed, n_encounters=n_encounters, parameters=parameters, workdir=workdir)
    encounters = study["encounters"]
    parts = []
    for arm in arms:
        data = encounters if arm == "pipeline" else \
            _true_code_frame(encounters, study_truth(n_encounters=n_encounters, seed=int(seed), parameters=parameters))
        table = run_hypotheses(data, hypotheses=study["hypotheses"], codebook=study["codebook"], n_draws=20_000)
        parts.append(_rows(table, arm))
    return pd.concat(parts, ignore_index=True)


def correction_replication(seed: int, *, n_encounters: int = 2400, parameters: dict | None = None, n_sim: int = 20,
                           workdir: str | Path | None = None) -> pd.DataFrame:
    """One replicated default study for the coder-error correction: the main model three ways.

    Parameters
    ----------
    seed, n_encounters, parameters, workdir
        As :func:`recovery_replication`.
    n_sim : int
        MC-SIMEX simulations per lambda.

    Returns
    -------
    pandas.DataFrame
        Rows ``hypothesis = "main model"`` for every coefficient of the hypotheses file's
        ``model:`` (the ordinal mixed model), per arm: ``true_codes`` (the true behaviours),
        ``pipeline`` (the cleaned codes: the naive, pre-registered estimate) and ``corrected``
        (:func:`svcresearch.simex.corrected_estimates`: MC-SIMEX with the matrices estimated
        from this replication's double-coded encounters and both coders' codes).

    Notes
    -----
    The same simulate → clean path as :func:`recovery_replication`; the correction is the one the
    notebooks run (:func:`svcresearch.simex.study_correction`), with fewer simulations per lambda.
    """
    import warnings

    from svcresearch import modelframe as mfm
    from svcresearch.simex import corrected_estimates
    from svcresearch.simulate import study_truth

    study = _simulated_study(seed, n_encounters=n_encounters, parameters=parameters, workdir=workdir)
    spec = study["hypotheses"].model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = corrected_estimates(study["encounters"], study["coding_long"], codebook=study["codebook"],
                                    model=spec, n_sim=n_sim, seed=int(seed))
        truth = study_truth(n_encounters=n_encounters, seed=int(seed), parameters=parameters)
        true_frame = mfm.model_frame(_true_code_frame(study["encounters"], truth), codebook=study["codebook"],
                                     outcome=spec.outcome, terms=list(spec.terms), groups=spec.groups)
        true_fit = true_frame.fit()
    if true_fit.result is None:       # every arm must summarise the same replications
        raise ValueError(f"the main model with true codes cannot be fitted: {true_fit.problem}")
    true_coefs = true_fit.coefficients().set_index("term")
    naive_n = mfm.model_frame(study["encounters"], codebook=study["codebook"], outcome=spec.outcome,
                              terms=list(spec.terms), groups=spec.groups).n_used
    columns = ["estimate", "std_error", "ci_low", "ci_high", "p_value"]
    rows = []
    for r in table.itertuples(index=False):
        base = {"hypothesis": MAIN_MODEL, "term": r.term, "kind": "coefficient"}
        if r.term in true_coefs.index:
            rows.append({"arm": "true_codes", **base, "n": float(true_frame.n_used),
                         **{c: float(true_coefs.loc[r.term, c]) for c in columns}})
        rows.append({"arm": "pipeline", **base, "n": float(naive_n),
                     **{c: float(getattr(r, f"{c}_naive")) for c in columns}})
        rows.append({"arm": "corrected", **base, "n": float(naive_n),
                     **{c: float(getattr(r, f"{c}_corrected")) for c in columns}})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def recovery_targets(ground_truth: Mapping) -> pd.DataFrame:
    """Targets of every hypotheses row and main-model term from a ground truth.

    Returns ``hypothesis, term, generative, pseudo_true, pseudo_true_se, pseudo_true_coded`` (NaN
    where the ground truth has no value; ``pseudo_true_se`` is the Monte Carlo error of the
    pseudo-true value itself, the standard error of the large fit behind it). Main-model
    coefficients (``model_terms``, ``model_terms_pseudo_true``, ...) are rows with
    ``hypothesis`` :data:`MAIN_MODEL`.
    """
    check_type("ground_truth", ground_truth, Mapping, what="a dict (parsed ground_truth.json)")
    pseudo = "hypotheses_generative" in ground_truth      # else "hypotheses" are the generative values
    sources = {   # column: (key of the hypotheses rows, key of the main-model terms)
        "generative": ("hypotheses_generative" if pseudo else "hypotheses", "model_terms"),
        "pseudo_true": ("hypotheses" if pseudo else None, "model_terms_pseudo_true"),
        "pseudo_true_se": ("hypotheses_pseudo_true_se", "model_terms_pseudo_true_se"),
        "pseudo_true_coded": ("hypotheses_pseudo_true_coded", "model_terms_pseudo_true_coded")}
    values = {col: dict(ground_truth.get(rows, {}) if rows else {},
                        **{MAIN_MODEL: ground_truth.get(terms, {})}) for col, (rows, terms) in sources.items()}
    out = []
    for h, terms in values["generative"].items():
        for term, value in terms.items():
            out.append({"hypothesis": h, "term": term, "generative": float(value),
                        **{col: float(values[col].get(h, {}).get(term, np.nan))
                           for col in ("pseudo_true", "pseudo_true_se", "pseudo_true_coded")}})
    return pd.DataFrame(out, columns=["hypothesis", "term", "generative", "pseudo_true", "pseudo_true_se",
                                      "pseudo_true_coded"])


def _coverage(low, high, target):
    ok = np.isfinite(low) & np.isfinite(high)
    if not np.isfinite(target) or not ok.any():
        return np.nan
    return float(np.mean((low[ok] <= target) & (target <= high[ok])))


def summarise_recovery(results: pd.DataFrame, *, targets: pd.DataFrame | Mapping) -> pd.DataFrame:
    """Bias, precision and coverage per arm and row over replications.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of :func:`recovery_replication` or :func:`correction_replication` over seeds
        (:func:`run_replications` output).
    targets : pandas.DataFrame or dict
        :func:`recovery_targets` output, or a ground truth dict to build it from.

    Returns
    -------
    pandas.DataFrame
        One row per arm and hypotheses row: ``n_replications`` (with an estimate), ``generative``,
        ``pseudo_true`` (true codes) and ``pseudo_true_se`` (its own Monte Carlo error),
        ``pseudo_true_coded``, ``mean_estimate``, ``bias`` (mean
        estimate − pseudo_true) and ``bias_mc_se`` (empirical SD / √R), ``empirical_sd``,
        ``mean_se`` (mean model standard error), ``sd_se_ratio`` (> 1: intervals too narrow),
        ``coverage`` (share of intervals covering pseudo_true) and ``coverage_mc_se``
        (√(c(1−c)/R)), ``coverage_own_target`` (the arm's own limit: pseudo_true_coded for
        ``pipeline``, pseudo_true for ``true_codes`` and ``corrected``) and ``coverage_generative``.

    Notes
    -----
    Monte Carlo standard errors as in Morris, White & Crowther (2019), *Using simulation studies
    to evaluate statistical methods*, Statistics in Medicine 38:2074-2102, Table 6.
    """
    check_dataframe("results", results, columns=["arm", "hypothesis", "term", "estimate", "std_error", "ci_low",
                                                  "ci_high"])
    if isinstance(targets, Mapping):
        targets = recovery_targets(targets)
    check_dataframe("targets", targets, columns=["hypothesis", "term", "generative", "pseudo_true"])
    tgt = targets.set_index(["hypothesis", "term"])
    rows = []
    for (arm, h, term), g in results.groupby(["arm", "hypothesis", "term"], sort=False):
        est = g["estimate"].to_numpy(dtype=float)
        ok = np.isfinite(est)
        est, se = est[ok], g["std_error"].to_numpy(dtype=float)[ok]
        low, high = g["ci_low"].to_numpy(dtype=float)[ok], g["ci_high"].to_numpy(dtype=float)[ok]
        r = len(est)
        t = tgt.loc[(h, term)] if (h, term) in tgt.index else None
        gen = float(t["generative"]) if t is not None else np.nan
        pt = float(t["pseudo_true"]) if t is not None else np.nan
        ptc = float(t.get("pseudo_true_coded", np.nan)) if t is not None else np.nan
        pt_se = float(t.get("pseudo_true_se", np.nan)) if t is not None else np.nan
        own = ptc if arm == "pipeline" else pt      # corrected estimates aim at the true-codes limit
        sd = float(np.std(est, ddof=1)) if r > 1 else np.nan
        cov = _coverage(low, high, pt)
        rows.append({"arm": arm, "hypothesis": h, "term": term, "n_replications": r, "generative": gen,
                     "pseudo_true": pt, "pseudo_true_se": pt_se, "pseudo_true_coded": ptc,
                     "mean_estimate": float(est.mean()) if r else np.nan,
                     "bias": float(est.mean()) - pt if r else np.nan,
                     "bias_mc_se": sd / math.sqrt(r) if r > 1 else np.nan, "empirical_sd": sd,
                     "mean_se": float(np.nanmean(se)) if r and np.isfinite(se).any() else np.nan,
                     "sd_se_ratio": np.nan, "coverage": cov,
                     "coverage_mc_se": math.sqrt(cov * (1 - cov) / r) if r and np.isfinite(cov) else np.nan,
                     "coverage_own_target": _coverage(low, high, own),
                     "coverage_generative": _coverage(low, high, gen)})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out["sd_se_ratio"] = out["empirical_sd"] / out["mean_se"]
    order = {a: i for i, a in enumerate(CORRECTION_ARMS)}
    out = out.sort_values("arm", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return out


def default_targets() -> pd.DataFrame:
    """Targets of the default study (generative and cached pseudo-true values, default parameters)."""
    from svcresearch.simulate._model import hypothesis_truths, merge_parameters, model_term_truths
    from svcresearch.simulate._pseudo import cached_pseudo_true

    params = merge_parameters(None)
    gt = {"hypotheses_generative": hypothesis_truths(params), "hypotheses": {}, "hypotheses_pseudo_true_coded": {},
          "model_terms": model_term_truths(params)}
    cache = cached_pseudo_true(params)
    if cache is not None:
        gt["hypotheses"] = cache["true_codes"]["hypotheses"]
        gt["hypotheses_pseudo_true_coded"] = cache["coded"]["hypotheses"]
        gt["hypotheses_pseudo_true_se"] = cache["true_codes"]["hypotheses_se"]
        gt["model_terms_pseudo_true"] = cache["true_codes"]["model_terms"]
        gt["model_terms_pseudo_true_se"] = cache["true_codes"].get("model_terms_se", {})
        gt["model_terms_pseudo_true_coded"] = cache["coded"]["model_terms"]
    return recovery_targets(gt)


def study_recovery(study, *, n_replications: int, seed: int = 1, progress: bool = False):
    """Notebook 08's recovery step: :func:`parameter_recovery` for a simulated study, else a Note.

    Recovery replicates the default simulator, so it says something only about a simulated study
    (one with a ground truth); for a researcher's own study it is one sentence why not.
    """
    from svcresearch.modelframe import Note

    if study.ground_truth is None:
        return Note(f"Parameter recovery replicates the default study's simulator; study '{study.name}' is not "
                    f"simulated (it has no ground truth), so there is nothing to recover.")
    return parameter_recovery(n_replications=n_replications, seed=seed, progress=progress)


def _replicated_summary(replicate, *, n_replications: int, seed: int, n_encounters: int, path, n_jobs: int,
                        progress: bool, retry_failed: bool, desc: str, settings: Mapping) -> pd.DataFrame:
    check_number("n_replications", n_replications, low=1, integer=True)
    check_number("seed", seed, low=0, integer=True)
    check_number("n_encounters", n_encounters, low=100, integer=True)
    results = run_replications(replicate, seeds=range(seed, seed + n_replications), path=path, n_jobs=n_jobs,
                               progress=progress, desc=desc, retry_failed=retry_failed, settings=settings)
    summary = summarise_recovery(results, targets=default_targets()) if len(results) else \
        pd.DataFrame(columns=SUMMARY_COLUMNS)
    summary.attrs["results"] = results
    summary.attrs["errors"] = results.attrs.get("errors", {})
    return summary


def parameter_recovery(*, n_replications: int, seed: int = 1, n_encounters: int = 2400, path: str | Path | None = None,
                       n_jobs: int = 2, progress: bool = True, retry_failed: bool = False) -> pd.DataFrame:
    """Replicate the default study and summarise its hypotheses table (arms ``true_codes``, ``pipeline``).

    Parameters
    ----------
    n_replications : int
        Replicated studies; seeds are ``seed, seed + 1, …``.
    seed : int
        First seed.
    n_encounters : int
        Size of each study (at least 100).
    path : str or Path, optional
        JSON-lines runs file; an existing one is resumed (:func:`run_replications`).
    n_jobs, progress, retry_failed
        As :func:`run_replications`.

    Returns
    -------
    pandas.DataFrame
        :func:`summarise_recovery` of :func:`recovery_replication` rows against
        :func:`default_targets`; ``attrs["results"]`` holds the per-replication rows and
        ``attrs["errors"]`` the failed seeds.
    """
    from functools import partial

    return _replicated_summary(partial(recovery_replication, n_encounters=n_encounters),
                               n_replications=n_replications, seed=seed, n_encounters=n_encounters, path=path,
                               n_jobs=n_jobs, progress=progress, retry_failed=retry_failed, desc="parameter recovery",
                               settings={"replication": "recovery_replication", "n_encounters": n_encounters})


def correction_recovery(*, n_replications: int, seed: int = 1, n_encounters: int = 2400, n_sim: int = 20,
                        path: str | Path | None = None, n_jobs: int = 2, progress: bool = True,
                        retry_failed: bool = False) -> pd.DataFrame:
    """Replicate the default study and summarise its main model: true codes, naive and corrected.

    Parameters
    ----------
    n_replications, seed, n_encounters, path, n_jobs, progress, retry_failed
        As :func:`parameter_recovery`.
    n_sim : int
        MC-SIMEX simulations per lambda (at least 2); a runs file made with another value is
        refused.

    Returns
    -------
    pandas.DataFrame
        :func:`summarise_recovery` of :func:`correction_replication` rows (``hypothesis`` is
        :data:`MAIN_MODEL`; arms ``true_codes``, ``pipeline``, ``corrected``) against
        :func:`default_targets`; ``attrs["results"]`` and ``attrs["errors"]`` as
        :func:`parameter_recovery`.
    """
    from functools import partial

    check_number("n_sim", n_sim, low=2, integer=True)
    return _replicated_summary(partial(correction_replication, n_encounters=n_encounters, n_sim=n_sim),
                               n_replications=n_replications, seed=seed, n_encounters=n_encounters, path=path,
                               n_jobs=n_jobs, progress=progress, retry_failed=retry_failed,
                               desc="coder-error correction",
                               settings={"replication": "correction_replication", "n_encounters": n_encounters,
                                         "n_sim": n_sim})


def _write_summary(summary: pd.DataFrame, out: Path) -> None:
    from svcresearch.report import excel_safe

    out.parent.mkdir(parents=True, exist_ok=True)
    # text cells a spreadsheet would run as a formula get a leading apostrophe (as every CSV we write)
    safe = summary.copy()
    for column in safe.columns:
        if not (pd.api.types.is_numeric_dtype(safe[column]) or pd.api.types.is_bool_dtype(safe[column])):
            safe[column] = safe[column].map(excel_safe, na_action="ignore")
    safe.to_csv(out, index=False, float_format="%.6g")


def main(argv: list[str] | None = None) -> int:
    """``python -m svcresearch.recovery``: the ``make recovery`` / ``make correction-recovery`` runs (resumable)."""
    import argparse
    import sys

    from svcresearch import config
    from svcresearch.simulate._model import merge_parameters
    from svcresearch.simulate._pseudo import cached_pseudo_true

    parser = argparse.ArgumentParser(prog="python -m svcresearch.recovery",
                                     description="Parameter recovery and the coder-error correction over replicated "
                                                 "default studies.")
    parser.add_argument("--replications", type=int, default=1000,
                        help="replications of the hypotheses table (0: none) -> reports/tables/parameter_recovery.csv")
    parser.add_argument("--correction", type=int, default=0, metavar="N",
                        help="replications of the coder-error correction (main model with true codes, naive and "
                             "MC-SIMEX corrected; about 13 s each) -> reports/tables/correction_recovery.csv")
    parser.add_argument("--seed", type=int, default=1, help="first seed (seeds are seed, seed+1, ...)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--n-sim", type=int, default=None, help="MC-SIMEX simulations per lambda (default 20)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="run again the seeds the runs files record as failed")
    parser.add_argument("--out", type=Path, default=None,
                        help="summary CSV of the hypotheses-table recovery (default reports/tables/parameter_recovery.csv)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="its JSON-lines runs file, resumed when it exists "
                             "(default reports/tables/parameter_recovery_runs.jsonl)")
    parser.add_argument("--correction-out", type=Path, default=None,
                        help="summary CSV of --correction (default reports/tables/correction_recovery.csv)")
    parser.add_argument("--correction-runs", type=Path, default=None,
                        help="its JSON-lines runs file (default reports/tables/correction_recovery_runs.jsonl)")
    args = parser.parse_args(argv)
    if args.replications < 0 or args.correction < 0:
        parser.error("--replications and --correction must be 0 or more")
    if args.replications == 0 and args.correction == 0:
        parser.error("nothing to run: give --replications or --correction a positive number")
    if args.jobs < 1 or args.seed < 0:
        parser.error("--jobs must be at least 1 and --seed at least 0")
    if args.correction == 0 and (args.n_sim is not None or args.correction_out or args.correction_runs):
        parser.error("--n-sim, --correction-out and --correction-runs apply only with --correction N")
    if args.replications == 0 and (args.out or args.runs):
        parser.error("--out and --runs apply to the hypotheses-table recovery; it is not run with --replications 0")
    if args.n_sim is not None and args.n_sim < 2:
        parser.error("--n-sim must be at least 2")
    if cached_pseudo_true(merge_parameters(None)) is None:
        print("svcresearch.recovery: no pseudo-true values are cached for the default parameters "
              "(python -m svcresearch.simulate._pseudo); bias and coverage are against the generative values "
              "only.", file=sys.stderr)
    tables = config.PROJECT_ROOT / "reports" / "tables"     # the default study's reports (its recovery)
    common = {"seed": args.seed, "n_jobs": args.jobs, "retry_failed": args.retry_failed}
    runs = []
    if args.replications:
        runs.append(("parameter recovery", args.replications, args.out or tables / "parameter_recovery.csv",
                     args.runs or tables / "parameter_recovery_runs.jsonl",
                     lambda path: parameter_recovery(n_replications=args.replications, path=path, **common)))
    if args.correction:
        runs.append(("correction recovery", args.correction, args.correction_out or tables / "correction_recovery.csv",
                     args.correction_runs or tables / "correction_recovery_runs.jsonl",
                     lambda path: correction_recovery(n_replications=args.correction, n_sim=args.n_sim or 20,
                                                      path=path, **common)))
    for name, n, out, path, run in runs:
        try:
            summary = run(path)
        except ValueError as exc:           # e.g. a runs file made with other settings: one line, no traceback
            print(f"svcresearch.recovery: {exc}", file=sys.stderr)
            return 2
        _write_summary(summary, out)
        errors = summary.attrs.get("errors", {})
        print(f"{name}: {n - len(errors)} replications summarised"
              + (f", {len(errors)} failed (first: seed {next(iter(errors))}: {next(iter(errors.values()))})"
                 if errors else "") + f"; wrote {out} (replications in {path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
