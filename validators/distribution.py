"""Distribution validators with real-versus-real calibration.

Every distance is judged against the same distance between disjoint halves of the real class.  For
each of ``n_bootstrap`` rounds the real class is split into halves A and B, and a synthetic subsample
S of the same size as B is drawn; baseline = d(A, B), observed = d(A, S).  Sizes match, so the two
are comparable whatever the sample counts.  With m0 the baseline median and t = m0 + tolerance *
(q_quantile(baseline) - m0) the threshold, a class passes when median(observed) <= t, and its score is
``clip(1 - 0.5 * (observed - m0) / (t - m0), 0, 1)``: 1 = no worse than real-vs-real, 0.5 = at the
threshold, 0 = twice as far beyond it.  Tests on the full data (KS p-values with Benjamini-Hochberg
correction, MMD permutation p-value) are reported beside the effect size as evidence.
"""
from __future__ import annotations

import numpy as np

from synthgen.errors import InsufficientDataError
from synthgen.seeding import derived_seed

from .result import FAIL, INCOMPUTABLE, PASS, ClassResult, ValidationResult
from .stats import (
    benjamini_hochberg,
    kernel_quad_forms,
    ks_statistic,
    ks_test,
    permutation_p,
    permutation_weights,
    wasserstein_cols,
)


class CalibratedValidator:
    name = "calibrated"
    statistic_name = "statistic"
    reads = "features"  # synthgen.protocols.Validator

    def __init__(self, n_bootstrap: int = 50, quantile: float = 0.95, tolerance: float = 1.0,
                 min_per_half: int = 5, min_synthetic: int = 5, max_samples: int | None = 2000):
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_per_half = int(min_per_half)
        self.min_synthetic = int(min_synthetic)
        # a class larger than this is compared on a seeded random subsample of each side, so kernel
        # and distance matrices stay bounded however many samples were generated (null: no limit)
        self.max_samples = None if max_samples is None else int(max_samples)

    def validate(self, real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], feature_names: list[str],
                 seed: int = 0) -> ValidationResult:
        per_class = {}
        for label in synthetic:
            x = np.asarray(real.get(label, np.zeros((0, len(feature_names)))), dtype=np.float64)
            y = np.asarray(synthetic[label], dtype=np.float64)
            n_x, n_y = len(x), len(y)
            x, y = self._cap(x, seed, label, "real"), self._cap(y, seed, label, "synthetic")
            rng = np.random.default_rng(derived_seed(seed, self.name, label))
            try:
                per_class[label] = self._validate_class(label, x, y, feature_names, rng)
                if (len(x), len(y)) != (n_x, n_y):
                    r = per_class[label]
                    r.details["subsampled"] = {"real": [len(x), n_x], "synthetic": [len(y), n_y]}
                    r.n_real, r.n_synthetic = n_x, n_y
            except InsufficientDataError as e:
                per_class[label] = ClassResult(label, INCOMPUTABLE, n_real=n_x, n_synthetic=n_y, reason=str(e))
        return ValidationResult(self.name, self.statistic_name, per_class)

    def _cap(self, a: np.ndarray, seed: int, label: str, side: str) -> np.ndarray:
        if self.max_samples is None or len(a) <= self.max_samples:
            return a
        rng = np.random.default_rng(derived_seed(seed, self.name, label, "cap", side))
        return a[np.sort(rng.choice(len(a), size=self.max_samples, replace=False))]

    # -- shared calibration -------------------------------------------------------------------
    def _check_sizes(self, label: str, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) < 2 * self.min_per_half:
            raise InsufficientDataError(
                f"class '{label}': {len(x)} real samples, need at least {2 * self.min_per_half} for a real-vs-real baseline")
        if len(y) < self.min_synthetic:
            raise InsufficientDataError(f"class '{label}': {len(y)} synthetic samples, need at least {self.min_synthetic}")

    def _splits(self, n: int, m: int, rng: np.random.Generator):
        h = n // 2
        s = min(h, m)
        for _ in range(self.n_bootstrap):
            p = rng.permutation(n)
            yield p[:h], p[h:2 * h][:s] if s < h else p[h:2 * h], rng.choice(m, size=s, replace=False)

    def _verdict(self, label, observed: np.ndarray, baseline: np.ndarray, n_real: int, n_syn: int, **extra) -> ClassResult:
        """A lower-is-better statistic judged by :func:`calibrate` (the one calibration), as a ClassResult."""
        c = calibrate(observed, baseline, self.quantile, self.tolerance)
        details = {**extra.pop("details", {}), "stability": c["stability"], "pass_share": c["pass_share"],
                   "statistic_interval": c["statistic_interval"]}
        return ClassResult(label, PASS if c["passed"] else FAIL, statistic=c["statistic"], score=c["score"],
                           threshold=c["threshold"], n_real=n_real, n_synthetic=n_syn, baseline=c["baseline"],
                           details=details, **extra)


def _standardise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale by the real class.  A feature (almost) constant in the real class is scaled by
    a floor of 1e-3 x the typical feature scale, so float noise in it cannot dominate every distance
    (embeddings have many channels that are zero on a given dataset)."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    rms = float(np.sqrt(np.mean(sd**2))) if sd.size else 0.0
    floor = 1e-3 * rms if rms > 0 else 1.0
    sd = np.sqrt(sd**2 + floor**2)
    return (x - mu) / sd, (y - mu) / sd


class KSValidator(CalibratedValidator):
    """Per-feature KS.  Statistic: the largest KS D over features (the worst feature), calibrated."""

    name = "ks"
    statistic_name = "max_feature_ks_d"

    def __init__(self, alpha: float = 0.05, **kw):
        super().__init__(**kw)
        self.alpha = float(alpha)

    def _validate_class(self, label, x, y, names, rng):
        self._check_sizes(label, x, y)
        base, obs = [], []
        for a, b, s in self._splits(len(x), len(y), rng):
            base.append(ks_statistic(x[a], x[b]))
            obs.append(ks_statistic(x[a], y[s]))
        base, obs = np.array(base), np.array(obs)
        d_full, p = ks_test(x, y)
        qv = benjamini_hochberg(p)
        sd = x.std(axis=0)
        w = wasserstein_cols(x, y) / np.where(sd > 0, sd, 1.0)
        feat_q = np.quantile(base, self.quantile, axis=0)
        feat_obs = np.median(obs, axis=0)
        features = {
            n: {"ks_d": float(d_full[j]), "p_value": float(p[j]), "q_value": float(qv[j]),
                "wasserstein_over_std": float(w[j]), "baseline_q": float(feat_q[j]), "observed": float(feat_obs[j]),
                "differs": bool(qv[j] < self.alpha and feat_obs[j] > feat_q[j])}
            for j, n in enumerate(names)
        }
        margin = np.where((feat_q == 0) & (feat_obs == 0), -np.inf, feat_obs - feat_q)  # constant features never "worst"
        worst = names[int(np.argmax(margin))] if np.isfinite(margin).any() else names[0]
        res = self._verdict(label, obs.max(axis=1), base.max(axis=1), len(x), len(y),
                            p_value=float(qv.min()),
                            details={"features": features, "worst_feature": worst,
                                     "rejected_features": [n for n in names if features[n]["differs"]],
                                     "alpha": self.alpha, "correction": "benjamini-hochberg"})
        return res


class MMDValidator(CalibratedValidator):
    """Kernel MMD² (RBF, median heuristic) on standardised features, calibrated; permutation p-value."""

    name = "mmd"
    statistic_name = "mmd2"

    def __init__(self, n_permutations: int = 1000, **kw):
        super().__init__(**kw)
        self.n_permutations = int(n_permutations)

    def _validate_class(self, label, x, y, names, rng):
        self._check_sizes(label, x, y)
        xs, ys = _standardise(x, y)
        n, m = len(xs), len(ys)
        cols_b, cols_o = [], []
        for a, b, s in self._splits(n, m, rng):
            wb = np.zeros(n + m)
            wb[a] = 1.0 / len(a)
            wb[b] = -1.0 / len(b)
            wo = np.zeros(n + m)
            wo[a] = 1.0 / len(a)
            wo[n + s] = -1.0 / len(s)
            cols_b.append(wb)
            cols_o.append(wo)
        # calibration splits, the observed split and every permutation: columns of one weight
        # matrix, one kernel pass (float32 products, float64 sums; stats.kernel_quad_forms)
        W = np.hstack([np.stack(cols_b + cols_o, axis=1), permutation_weights(n, m, self.n_permutations, rng)])
        q = kernel_quad_forms(xs, ys, W)
        vals, nb = q["rbf"], 2 * len(cols_b)
        base, obs = vals[: len(cols_b)], vals[len(cols_b):nb]
        return self._verdict(label, obs, base, n, m, p_value=permutation_p(vals[nb:], np.float32),
                             details={"mmd2_full": float(vals[nb]), "bandwidth": q["bandwidth"],
                                      "n_permutations": self.n_permutations, "kernel": "rbf"})


# --- generic multi-metric calibration ------------------------------------------------------------

def calibrate(observed: np.ndarray, baseline: np.ndarray, quantile: float = 0.95, tolerance: float = 1.0,
              higher_is_better: bool = False) -> dict:
    """Judge one metric against its real-vs-real baseline (see the module docstring).

    For a higher-is-better metric the threshold is the lower (1 - quantile) baseline quantile.
    Returns statistic (median observed), threshold, score in [0, 1] (>= 0.5 iff passed), passed and
    the baseline summary.
    """
    sgn = -1.0 if higher_is_better else 1.0
    obs, base = sgn * np.asarray(observed, np.float64), sgn * np.asarray(baseline, np.float64)
    m0 = float(np.median(base))
    q = float(np.quantile(base, quantile))
    t = m0 + tolerance * (q - m0)
    if t <= m0:
        t = m0 + max(1e-12, 1e-6 * abs(m0))
    stat = float(np.median(obs))
    score = float(np.clip(1.0 - 0.5 * (stat - m0) / (t - m0), 0.0, 1.0))
    passed = bool(stat <= t)
    lo_q = 1 - quantile if higher_is_better else quantile
    # the uncertainty of the verdict, from the same repeated splits: the share of splits whose own
    # comparison passes, the share that agrees with the verdict (``stability``: 1.0, the verdict does
    # not hinge on the draw; near 0.5 it may flip with the seed) and the central 95 % of the statistic
    lo, hi = sgn * np.quantile(obs, [0.025, 0.975])
    share = float(np.mean(obs <= t))
    return {"statistic": sgn * stat, "threshold": sgn * t, "score": score, "passed": passed,
            "pass_share": round(share, 6), "stability": round(share if passed else 1.0 - share, 6),
            "statistic_interval": [float(min(lo, hi)), float(max(lo, hi))],
            "baseline": {"median": sgn * m0, f"q{int(round(lo_q * 100))}": sgn * q,
                         ("min" if higher_is_better else "max"): float(sgn * np.max(base)), "n_bootstrap": int(len(base))},
            "higher_is_better": higher_is_better}


def _standardise_pooled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale by real and synthetic pooled (floored as in :func:`_standardise`).

    Scaling by the real rows alone favours the real-vs-real baseline: a channel that is constant on
    the real rows (common in embeddings) would blow up any synthetic deviation, however small.
    """
    return _standardise(np.vstack([x, y]), x)[1], _standardise(np.vstack([x, y]), y)[1]


def prepare(x: np.ndarray, y: np.ndarray, max_dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Standardise with real and synthetic pooled, then (if wider than max_dim) project onto the
    pooled top principal axes.  Distances in every neighbour metric use this space."""
    from .stats import pca_basis

    xs, ys = _standardise_pooled(x, y)
    if max_dim and xs.shape[1] > max_dim:
        # axes from real and synthetic pooled: axes fitted on the real rows alone would favour the
        # real-vs-real baseline (both halves in-sample) over the synthetic rows (out-of-sample)
        b = pca_basis(np.vstack([xs, ys]), min(max_dim, len(xs) + len(ys) - 1))
        xs, ys = xs @ b, ys @ b
    return xs, ys


class MetricValidator(CalibratedValidator):
    """Several metrics per split, each calibrated; the class fails when any metric fails.

    Subclasses set ``metrics_spec = {name: higher_is_better}`` and implement ``metrics(a, other)``;
    ``evidence(x, y, rng)`` may add full-data values and p-values to ``details``.
    """

    metrics_spec: dict[str, bool] = {}
    max_dim: int | None = None

    def metrics(self, a: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def evidence(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict:
        return {}

    def _prepare(self, label: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return prepare(x, y, self.max_dim)

    def _pool(self, label: str, x: np.ndarray, y: np.ndarray):
        """A shared ``pairwise.Pooled`` (prepared features and their distance matrix) for validators
        whose metrics are distances between rows (``pooled_metrics``), else None."""
        return None

    def pooled_metrics(self, pool, a: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """``metrics`` from the shared distance matrix; ``a``, ``other``: pooled row indices."""
        raise NotImplementedError

    def _validate_class(self, label, x, y, names, rng):
        self._check_sizes(label, x, y)
        pool = self._pool(label, x, y)
        xs, ys = (pool.xs, pool.ys) if pool is not None else self._prepare(label, x, y)
        base = {k: [] for k in self.metrics_spec}
        obs = {k: [] for k in self.metrics_spec}
        for a, b, s in self._splits(len(xs), len(ys), rng):
            if pool is not None:
                mb, mo = self.pooled_metrics(pool, a, b, rng), self.pooled_metrics(pool, a, len(xs) + s, rng)
            else:
                mb, mo = self.metrics(xs[a], xs[b], rng), self.metrics(xs[a], ys[s], rng)
            for k in self.metrics_spec:
                base[k].append(mb[k])
                obs[k].append(mo[k])
        per = {k: calibrate(np.array(obs[k]), np.array(base[k]), self.quantile, self.tolerance, hib)
               for k, hib in self.metrics_spec.items()}
        worst = min(per, key=lambda k: per[k]["score"])
        ev = self.evidence(xs, ys, rng)
        p = ev.pop("p_value", None)
        w = per[worst]
        return ClassResult(label, PASS if all(v["passed"] for v in per.values()) else FAIL, statistic=w["statistic"],
                           score=w["score"], threshold=w["threshold"],
                           p_value=p, n_real=len(x), n_synthetic=len(y), baseline=w["baseline"],
                           details={"metric": worst, "worst_feature": worst if not w["passed"] else None,
                                    "metrics": per, "full_data": ev, "dims": int(xs.shape[1]),
                                    # a pass needs every metric: as stable as the least stable; a fail, as its worst metric
                                    "stability": min(v["stability"] for v in per.values()) if all(v["passed"] for v in per.values())
                                    else w["stability"], "statistic_interval": w["statistic_interval"]})


class EnergyValidator(MetricValidator):
    """Energy distance (Székely) on standardised features, calibrated; permutation p-value from the
    same distance matrix as the MMD (one matrix product for all permutations)."""

    name = "energy"
    statistic_name = "energy_distance"
    metrics_spec = {"energy": False}

    def __init__(self, n_permutations: int = 1000, max_dim: int | None = 64, **kw):
        super().__init__(**kw)
        self.n_permutations = int(n_permutations)
        self.max_dim = max_dim

    def _pool(self, label, x, y):
        from .pairwise import pooled

        return pooled(x, y, self.max_dim)

    def pooled_metrics(self, pool, a, other, rng):
        return {"energy": pool.energy(a, other)}

    def metrics(self, a, other, rng):
        from .stats import sq_dists

        n = len(a)
        d = np.sqrt(sq_dists(np.vstack([a, other])))
        w = np.r_[np.full(n, 1.0 / n), np.full(len(other), -1.0 / len(other))]
        return {"energy": float(-(w @ d @ w))}

    def evidence(self, x, y, rng):
        from .stats import kernel_tests

        kt = kernel_tests(x, y, self.n_permutations, rng)
        return {"energy": kt["energy"], "p_value": kt["p_energy"], "mmd2": kt["mmd2"], "p_mmd": kt["p_mmd"],
                "n_permutations": self.n_permutations}


class WassersteinValidator(MetricValidator):
    """Per-feature Wasserstein-1 divided by the real standard deviation; statistic: the mean over
    features (``worst_feature`` names the feature with the largest calibrated excess)."""

    name = "wasserstein"
    statistic_name = "mean_wasserstein_over_std"
    metrics_spec = {"wasserstein": False}

    def _validate_class(self, label, x, y, names, rng):
        res = super()._validate_class(label, x, y, names, rng)

        sd = x.std(axis=0)
        w = wasserstein_cols(x, y) / np.where(sd > 0, sd, 1.0)
        res.details["features"] = {n: float(w[j]) for j, n in enumerate(names)}
        if not res.passed:
            res.details["worst_feature"] = names[int(np.argmax(w))]
        return res

    def metrics(self, a, other, rng):
        # inputs are standardised by the real class's std already

        return {"wasserstein": float(np.mean(wasserstein_cols(a, other)))}


class CategoricalValidator(MetricValidator):
    """Binned or categorical features: Jensen-Shannon distance and PSI (calibrated), G-test and
    chi-square with small cells merged (BH-corrected p-values as evidence).

    ``discrete``: the features are category codes (counts per code); otherwise each feature is cut at
    the real class's deciles.  Statistic: the largest JS distance over features.
    """

    name = "categorical"
    statistic_name = "max_js_distance"
    metrics_spec = {"js": False, "psi": False}

    def __init__(self, bins: int = 10, discrete: bool = False, min_expected: float = 5.0, **kw):
        super().__init__(**kw)
        self.bins = int(bins)
        self.discrete = bool(discrete)
        self.min_expected = float(min_expected)

    def _validate_class(self, label, x, y, names, rng):
        self._check_sizes(label, x, y)
        from .stats import benjamini_hochberg, contingency_test

        self._edges = [self._edges_for(x[:, j]) for j in range(x.shape[1])]
        base = {k: [] for k in self.metrics_spec}
        obs = {k: [] for k in self.metrics_spec}
        for a, b, s in self._splits(len(x), len(y), rng):
            mb, mo = self.metrics(x[a], x[b], rng), self.metrics(x[a], y[s], rng)
            for k in self.metrics_spec:
                base[k].append(mb[k])
                obs[k].append(mo[k])
        per = {k: calibrate(np.array(obs[k]), np.array(base[k]), self.quantile, self.tolerance, False) for k in self.metrics_spec}
        feats, pv = {}, []
        for j, n in enumerate(names):
            ca, cb = self._counts(x[:, j], j), self._counts(y[:, j], j)
            try:
                t = contingency_test(ca, cb, self.min_expected)
            except InsufficientDataError:
                t = {"g": 0.0, "chi2": 0.0, "p_g": 1.0, "p_chi2": 1.0, "dof": 0, "cells": 1}
            from .stats import js_distance, psi

            feats[n] = {"js": js_distance(ca + 1e-12, cb + 1e-12), "psi": psi(ca, cb), **t}
            pv.append(t["p_g"])
        q = benjamini_hochberg(np.array(pv))
        for j, n in enumerate(names):
            feats[n]["q_g"] = float(q[j])
        worst_m = min(per, key=lambda k: per[k]["score"])
        w = per[worst_m]
        passed = all(v["passed"] for v in per.values())
        worst_f = max(names, key=lambda n: feats[n]["js"])
        return ClassResult(label, PASS if passed else FAIL, statistic=w["statistic"], score=w["score"], threshold=w["threshold"],
                           p_value=float(q.min()) if len(q) else None, n_real=len(x), n_synthetic=len(y),
                           baseline=w["baseline"], details={"metric": worst_m, "metrics": per, "features": feats,
                                                            "worst_feature": None if passed else worst_f,
                                                            "test": "G-test (small cells merged), BH-corrected"})

    def _edges_for(self, col):
        from .stats import quantile_bins

        return np.unique(col) if self.discrete else quantile_bins(col, self.bins)

    def _counts(self, col, j):
        e = self._edges[j]
        if self.discrete:
            idx = np.searchsorted(e, col)
            known = (idx < len(e)) & (e[np.minimum(idx, len(e) - 1)] == col)
            return np.r_[np.bincount(idx[known], minlength=len(e)), (~known).sum()].astype(np.float64)
        from .stats import bin_counts

        return bin_counts(col, e)

    def metrics(self, a, other, rng):
        from .stats import js_distance, psi

        js, ps = [], []
        for j in range(a.shape[1]):
            ca, cb = self._counts(a[:, j], j), self._counts(other[:, j], j)
            js.append(js_distance(ca + 1e-12, cb + 1e-12))
            ps.append(psi(ca, cb))
        return {"js": float(max(js)), "psi": float(max(ps))}


class FrechetValidator(MetricValidator):
    """Fréchet distance between Gaussians fitted to real and synthetic features, calibrated.

    On EfficientNet-Lite0 embeddings name it ``FD_effnetlite0`` (never FID: that is Inception-v3).
    With fewer samples per half than dimensions the features are projected onto the real class's
    top principal axes (``reduce: pca``, the same axes for baseline and observed) or the class is
    incomputable (``reduce: raise``).
    """

    statistic_name = "frechet_distance"
    metrics_spec = {"frechet": False}

    def __init__(self, name: str = "frechet", reduce: str = "pca", max_dim: int | None = 64, **kw):
        super().__init__(**kw)
        if reduce not in ("pca", "raise"):
            from synthgen.errors import ConfigError

            raise ConfigError(f"reduce: must be 'pca' or 'raise', got {reduce!r}")
        self.name = str(name)
        self.reduce = reduce
        self.max_dim = max_dim

    def _prepare(self, label, x, y):
        from .stats import pca_basis

        half = min(len(x) // 2, len(y))
        d = min(x.shape[1], self.max_dim) if self.max_dim else x.shape[1]
        if half < 3 * d:
            if self.reduce == "raise":
                raise InsufficientDataError(f"class '{label}': {half} samples per half for a {d}-d Fréchet distance; "
                                            f"need at least {3 * d} (or reduce: pca)")
            d = max(1, half // 3)  # covariances stay well estimated: three samples per dimension
        xs, ys = _standardise_pooled(x, y)
        if d < xs.shape[1]:
            b = pca_basis(np.vstack([xs, ys]), d)  # pooled axes (see prepare)
            xs, ys = xs @ b, ys @ b
        return xs, ys

    def metrics(self, a, other, rng):
        from .stats import frechet_from_samples

        return {"frechet": frechet_from_samples(a, other, reduce="raise")[0]}

    def evidence(self, x, y, rng):
        from .stats import frechet_from_samples

        return {"frechet": frechet_from_samples(x, y, reduce="pca")[0]}


class C2STValidator(MetricValidator):
    """Classifier two-sample test: cross-validated logistic-regression AUC (real vs synthetic) on the
    full data, calibrated against the AUC between real halves.  Its p-value comes from a refitting
    permutation test with ``n_permutations`` refits (the Mann-Whitney formula is anti-conservative on
    out-of-fold scores), and its confidence interval is widened by the same null-variance ratio; see
    ``stats.c2st``.  The real-half baselines need only the AUC, so they skip the permutations."""

    name = "c2st"
    statistic_name = "auc"
    metrics_spec = {"auc": False}

    def __init__(self, folds: int = 5, max_dim: int | None = 32, n_bootstrap: int = 10, n_permutations: int = 100,
                 **kw):
        super().__init__(n_bootstrap=n_bootstrap, **kw)
        self.folds = int(folds)
        self.max_dim = max_dim
        self.n_permutations = int(n_permutations)

    def _check_sizes(self, label, x, y):
        super()._check_sizes(label, x, y)
        if min(len(x) // 2, len(y)) < 2 * self.folds:
            raise InsufficientDataError(f"class '{label}': C2ST with {self.folds} folds needs {2 * self.folds} samples per "
                                        f"half, got {min(len(x) // 2, len(y))}")

    def metrics(self, a, other, rng):
        from .stats import c2st

        return {"auc": c2st(a, other, self.folds, int(rng.integers(2**31)), None, n_permutations=0)["auc"]}

    def _validate_class(self, label, x, y, names, rng):
        """The observation is the AUC on all the data (one cross-validated fit: far less noisy than a
        median of half-size fits); the baseline is the AUC between real halves."""
        from .stats import c2st

        self._check_sizes(label, x, y)
        xs, ys = self._prepare(label, x, y)
        base = [self.metrics(xs[a], xs[b], rng)["auc"] for a, b, _ in self._splits(len(xs), len(ys), rng)]
        full = c2st(xs, ys, self.folds, int(rng.integers(2**31)), None, n_permutations=self.n_permutations)
        cal = calibrate(np.array([full["auc"]]), np.array(base), self.quantile, self.tolerance)
        return ClassResult(label, PASS if cal["passed"] else FAIL, statistic=cal["statistic"], score=cal["score"],
                           threshold=cal["threshold"], p_value=full["p_value"], n_real=len(x),
                           n_synthetic=len(y), baseline=cal["baseline"],
                           details={"metric": "auc", "worst_feature": None if cal["passed"] else "auc", "full_data": full,
                                    "dims": int(xs.shape[1]),  # one observation (all the data): its uncertainty is the AUC's CI
                                    "statistic_interval": [full[k] for k in ("ci_low", "ci_high")] if "ci_low" in full else None})

    def evidence(self, x, y, rng):
        from .stats import c2st

        return c2st(x, y, self.folds, int(rng.integers(2**31)), None, n_permutations=self.n_permutations)


class PRDCValidator(MetricValidator):
    """Precision, recall, density and coverage (Naeem et al. 2020), each calibrated (higher is better)."""

    name = "prdc"
    statistic_name = "worst_metric"
    metrics_spec = {"precision": True, "recall": True, "density": True, "coverage": True}

    def __init__(self, k: int = 5, max_dim: int | None = 64, n_bootstrap: int = 20, **kw):
        super().__init__(n_bootstrap=n_bootstrap, **kw)
        self.k = int(k)
        self.max_dim = max_dim

    def _check_sizes(self, label, x, y):
        super()._check_sizes(label, x, y)
        if min(len(x) // 2, len(y)) <= self.k:
            raise InsufficientDataError(f"class '{label}': PRDC with k={self.k} needs more than {self.k} samples per half")

    def _pool(self, label, x, y):
        from .pairwise import pooled

        return pooled(x, y, self.max_dim)

    def pooled_metrics(self, pool, a, other, rng):
        return pool.prdc(a, other, self.k)

    def metrics(self, a, other, rng):
        from .stats import prdc

        return prdc(a, other, self.k)

    def evidence(self, x, y, rng):
        from .pairwise import find
        from .stats import prdc

        pool = find(x, y)
        if pool is not None:
            return pool.prdc(np.arange(pool.n), pool.n + np.arange(pool.m), self.k)
        return prdc(x, y, self.k)


class AlphaPrecisionValidator(PRDCValidator):
    """α-precision, β-recall and authenticity (k-NN form of Alaa et al. 2022), each calibrated."""

    name = "alpha_precision"
    metrics_spec = {"alpha_precision": True, "beta_recall": True, "authenticity": True}

    def _pool(self, label, x, y):
        return None  # its metrics are not PRDC's: the per-split arrays route

    def metrics(self, a, other, rng):
        from .stats import alpha_beta_authenticity

        m = alpha_beta_authenticity(a, other, self.k)
        return {k: m[k] for k in self.metrics_spec}

    def evidence(self, x, y, rng):
        from .stats import alpha_beta_authenticity

        return alpha_beta_authenticity(x, y, self.k)
