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
from .stats import benjamini_hochberg, ks_pvalues, ks_statistic, mmd_permutation, rbf_kernel, wasserstein_1d


class CalibratedValidator:
    name = "calibrated"
    statistic_name = "statistic"

    def __init__(self, n_bootstrap: int = 50, quantile: float = 0.95, tolerance: float = 1.0,
                 min_per_half: int = 5, min_synthetic: int = 5):
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_per_half = int(min_per_half)
        self.min_synthetic = int(min_synthetic)

    def validate(self, real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], feature_names: list[str],
                 seed: int = 0) -> ValidationResult:
        per_class = {}
        for label in synthetic:
            x = np.asarray(real.get(label, np.zeros((0, len(feature_names)))), dtype=np.float64)
            y = np.asarray(synthetic[label], dtype=np.float64)
            rng = np.random.default_rng(derived_seed(seed, self.name, label))
            try:
                per_class[label] = self._validate_class(label, x, y, feature_names, rng)
            except InsufficientDataError as e:
                per_class[label] = ClassResult(label, INCOMPUTABLE, n_real=len(x), n_synthetic=len(y), reason=str(e))
        return ValidationResult(self.name, self.statistic_name, per_class)

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
        m0 = float(np.median(baseline))
        q = float(np.quantile(baseline, self.quantile))
        t = m0 + self.tolerance * (q - m0)
        if t <= m0:
            t = m0 + max(1e-12, 1e-6 * abs(m0))
        stat = float(np.median(observed))
        score = float(np.clip(1.0 - 0.5 * (stat - m0) / (t - m0), 0.0, 1.0))
        passed = stat <= t
        return ClassResult(
            label, PASS if passed else FAIL, statistic=stat, score=score, threshold=float(t), passed=bool(passed),
            n_real=n_real, n_synthetic=n_syn,
            baseline={"median": m0, f"q{int(round(self.quantile * 100))}": q, "max": float(np.max(baseline)),
                      "n_bootstrap": self.n_bootstrap},
            **extra,
        )


def _standardise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
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
        d_full = ks_statistic(x, y)
        p = ks_pvalues(x, y)
        qv = benjamini_hochberg(p)
        w = wasserstein_1d(x, y, x.std(axis=0))
        feat_q = np.quantile(base, self.quantile, axis=0)
        feat_obs = np.median(obs, axis=0)
        features = {
            n: {"ks_d": float(d_full[j]), "p_value": float(p[j]), "q_value": float(qv[j]),
                "wasserstein_over_std": float(w[j]), "baseline_q": float(feat_q[j]), "observed": float(feat_obs[j]),
                "differs": bool(qv[j] < self.alpha and feat_obs[j] > feat_q[j])}
            for j, n in enumerate(names)
        }
        worst = names[int(np.argmax(feat_obs - feat_q))]
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
        K, bw = rbf_kernel(np.vstack([xs, ys]))
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
        W = np.stack(cols_b + cols_o, axis=1)
        vals = np.einsum("ip,ip->p", W, K @ W)
        base, obs = vals[: len(cols_b)], vals[len(cols_b):]
        perm = mmd_permutation(xs, ys, self.n_permutations, rng, bandwidth=bw)
        return self._verdict(label, obs, base, n, m, p_value=perm["p_value"],
                             details={"mmd2_full": perm["mmd2"], "bandwidth": bw, "n_permutations": self.n_permutations,
                                      "kernel": "rbf"})
