"""Memorisation and diversity: is the synthetic set copying real samples, or collapsing onto a few?

* :class:`DCRValidator` (features): distance to the closest real record.  Per bootstrap round the
  real class is split into a reference half A and two holdout quarters B1, B2; tau is the 5 % quantile
  of DCR(B1 -> A); the baseline is the share of B2 closer to A than tau, the observation the share
  of a synthetic subsample closer than tau.  Copies of real samples land at distance 0 and fail.
* :class:`DuplicateValidator` (samples): exact duplicates (content hash) and near duplicates by a
  per-modality fingerprint: a 64-bit DCT perceptual hash for images (Hamming distance), MinHash over
  character 5-grams for text (1 - estimated Jaccard), and Chamfer distance for point clouds (over the
  cloud's bounding-box diagonal; candidates by a centroid/extent descriptor).  Two metrics, each
  calibrated on real halves: the share of synthetic samples that nearly copy a real sample, and the
  share that nearly copy another synthetic sample (duplicates inside the set).
* :class:`DiversityValidator` (features): mode collapse.  Within-set nearest-neighbour spread
  (synthetic vs a real half of the same size) and the share of the real class's k-means clusters that
  the synthetic samples reach.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from synthgen.errors import InsufficientDataError
from synthgen.sample import Sample
from synthgen.seeding import derived_seed

from .distribution import MetricValidator, calibrate, prepare
from .points_features import chamfer
from .result import FAIL, INCOMPUTABLE, PASS, ClassResult, ValidationResult


# --- fingerprints --------------------------------------------------------------------------------

def phash(img: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hash (as bools): luma at 32x32, the 8x8 lowest frequencies against their median."""
    from PIL import Image
    from scipy.fft import dctn

    a = np.asarray(img)
    if a.ndim == 3:
        a = (0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]) if a.shape[2] >= 3 else a[:, :, 0]
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).resize((32, 32), Image.BILINEAR)
    c = dctn(np.asarray(im, dtype=np.float64), norm="ortho")[:8, :8].ravel()
    return c > np.median(c[1:])


_MERSENNE = (1 << 61) - 1


def _minhash_params(n_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260101)
    return rng.integers(1, _MERSENNE, n_perm, dtype=np.uint64), rng.integers(0, _MERSENNE, n_perm, dtype=np.uint64)


def minhash(text: str, n_perm: int = 64, shingle: int = 5) -> np.ndarray:
    """MinHash signature over lower-cased character ``shingle``-grams (whitespace collapsed)."""
    t = " ".join(str(text).lower().split())
    grams = {t[i:i + shingle] for i in range(max(1, len(t) - shingle + 1))}
    h = np.array([int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") & _MERSENNE for g in grams],
                 dtype=object)
    a, b = _minhash_params(n_perm)
    # exact modular arithmetic in Python ints (61-bit products overflow uint64)
    vals = (np.outer(h, a.astype(object)) + b.astype(object)) % _MERSENNE
    return np.array([int(v) for v in vals.min(axis=0)], dtype=np.uint64)


def _points(data) -> np.ndarray:
    if isinstance(data, dict):
        data = data.get("points", data.get("xyz"))
    return np.asarray(data, dtype=np.float64)[:, :3]


def _sub(p: np.ndarray, n: int = 512) -> np.ndarray:
    return p if len(p) <= n else p[np.linspace(0, len(p) - 1, n).astype(int)]


def fingerprint_distances(a: Sequence[Sample], b: Sequence[Sample], modality: str, candidates: int = 5) -> np.ndarray:
    """(len(a), len(b)) fingerprint distances in [0, 1]-ish units (inf where not compared)."""
    if not a or not b:
        return np.full((len(a), len(b)), np.inf)
    if modality == "image":
        fa = np.stack([phash(s.data) for s in a]).astype(np.float64)
        fb = np.stack([phash(s.data) for s in b]).astype(np.float64)
        return (fa @ (1 - fb).T + (1 - fa) @ fb.T) / fa.shape[1]
    if modality == "text":
        fa = np.stack([minhash(s.data) for s in a])
        fb = np.stack([minhash(s.data) for s in b])
        out = np.empty((len(a), len(b)))
        for i in range(len(a)):
            out[i] = 1.0 - (fa[i][None, :] == fb).mean(axis=1)
        return out
    if modality == "points":
        pa, pb = [_sub(_points(s.data)) for s in a], [_sub(_points(s.data)) for s in b]
        da = np.array([np.r_[p.mean(0), np.sort(p.max(0) - p.min(0))] for p in pa])
        db = np.array([np.r_[p.mean(0), np.sort(p.max(0) - p.min(0))] for p in pb])
        d = np.sqrt(((da[:, None, :] - db[None, :, :]) ** 2).sum(-1))
        out = np.full((len(a), len(b)), np.inf)
        c = min(candidates, len(b))
        for i in range(len(a)):
            diag = float(np.linalg.norm(pa[i].max(0) - pa[i].min(0))) or 1.0
            for j in np.argsort(d[i], kind="stable")[:c]:
                out[i, j] = 0.5 * chamfer(pa[i], pb[j], squared=False) / diag  # mean NN distance, either way
        return out
    raise InsufficientDataError(f"no fingerprint for modality '{modality}'")


DEFAULT_NEAR = {"image": 4 / 64, "text": 0.2, "points": 0.01}


class DuplicateValidator:
    """Exact and near duplicates of real samples, and duplicates inside the synthetic set."""

    name = "duplicates"
    statistic_name = "near_copy_share"
    reads = "samples"

    def __init__(self, near: float | None = None, n_bootstrap: int = 50, quantile: float = 0.95, tolerance: float = 1.0,
                 min_per_half: int = 5, min_synthetic: int = 5, margin: float = 0.02):
        self.near = near
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_per_half = int(min_per_half)
        self.min_synthetic = int(min_synthetic)
        self.margin = float(margin)  # shares within this absolute margin of the baseline never fail

    def validate_samples(self, real: dict[str, list[Sample]], synthetic: dict[str, list[Sample]], seed: int = 0) -> ValidationResult:
        from .cache import content_hash

        per = {}
        for label, ys in synthetic.items():
            xs = real.get(label, [])
            try:
                if len(xs) < 2 * self.min_per_half:
                    raise InsufficientDataError(f"class '{label}': {len(xs)} real samples, need at least {2 * self.min_per_half}")
                if len(ys) < self.min_synthetic:
                    raise InsufficientDataError(f"class '{label}': {len(ys)} synthetic samples, need at least {self.min_synthetic}")
                modality = ys[0].modality
                near = self.near if self.near is not None else DEFAULT_NEAR.get(modality, 0.05)
                d_rr = fingerprint_distances(xs, xs, modality)
                np.fill_diagonal(d_rr, np.inf)
                d_sr = fingerprint_distances(ys, xs, modality)
                d_ss = fingerprint_distances(ys, ys, modality)
                np.fill_diagonal(d_ss, np.inf)
                rng = np.random.default_rng(derived_seed(seed, self.name, label))
                n, m = len(xs), len(ys)
                h = n // 2
                s = min(h, m)
                base = {"near_copy": [], "internal": []}
                obs = {"near_copy": [], "internal": []}
                for _ in range(self.n_bootstrap):
                    p = rng.permutation(n)
                    A, B = p[:h], p[h:2 * h][:s]
                    S = rng.choice(m, size=s, replace=False)
                    base["near_copy"].append(float((d_rr[np.ix_(B, A)].min(1) <= near).mean()))
                    obs["near_copy"].append(float((d_sr[np.ix_(S, A)].min(1) <= near).mean()))
                    base["internal"].append(float((d_rr[np.ix_(B, B)].min(1) <= near).mean()))
                    obs["internal"].append(float((d_ss[np.ix_(S, S)].min(1) <= near).mean()))
                mets = {}
                for k in base:
                    b = np.array(base[k])
                    # a share a few points above a near-zero baseline is not evidence: widen by margin
                    mets[k] = calibrate(np.array(obs[k]), np.r_[b, b + self.margin], self.quantile, self.tolerance)
                rh = {content_hash(x) for x in xs}
                yh = [content_hash(y) for y in ys]
                exact = [y.id for y, hh in zip(ys, yh) if hh in rh]
                exact_internal = len(yh) - len(set(yh))
                worst = min(mets, key=lambda k: mets[k]["score"])
                w = mets[worst]
                passed = all(v["passed"] for v in mets.values())
                nearest = d_sr.min(1)
                per[label] = ClassResult(
                    label, PASS if passed else FAIL, statistic=w["statistic"], score=w["score"], threshold=w["threshold"],
                    n_real=n, n_synthetic=m, baseline=w["baseline"],
                    details={"metric": worst, "metrics": mets, "worst_feature": None if passed else worst,
                             "fingerprint": {"image": "phash64", "text": "minhash64", "points": "chamfer"}.get(modality),
                             "near_threshold": near, "exact_copies_of_real": len(exact), "exact_copy_ids": exact[:20],
                             "exact_duplicates_inside": int(exact_internal),
                             "near_copy_share_full": float((nearest <= near).mean()),
                             "near_copy_ids": [ys[i].id for i in np.flatnonzero(nearest <= near)[:20]]})
            except InsufficientDataError as e:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=len(xs), n_synthetic=len(ys), reason=str(e))
        return ValidationResult(self.name, self.statistic_name, per)


class DCRValidator(MetricValidator):
    """Distance to the closest real record against a holdout-to-train baseline (see module docstring)."""

    name = "dcr"
    statistic_name = "share"
    metrics_spec = {"too_close": False, "too_far": False}

    def __init__(self, close_quantile: float = 0.05, max_dim: int | None = 64, margin: float = 0.02, **kw):
        kw.setdefault("min_per_half", 8)
        super().__init__(**kw)
        self.close_quantile = float(close_quantile)
        self.max_dim = max_dim
        self.margin = float(margin)

    def _validate_class(self, label, x, y, names, rng):
        from .pairwise import pooled
        from .stats import knn

        self._check_sizes(label, x, y)
        pool = pooled(x, y, self.max_dim)  # shared with energy, PRDC and the filter (None: too large)
        xs, ys = (pool.xs, pool.ys) if pool is not None else prepare(x, y, self.max_dim)
        n, m = len(xs), len(ys)
        z = None if pool is not None else np.vstack([xs, ys])

        def nn(rows, cols, exclude_self=False):  # nearest-neighbour distance of pooled rows among cols
            if pool is not None:
                return pool.knn(rows, cols, 1, exclude_self)[0][:, 0]
            return knn(z[rows], z[cols], 1, exclude_self)[0][:, 0]

        h = n // 2
        q = (n - h) // 2
        s = min(q, m)
        base = {k: [] for k in self.metrics_spec}
        obs = {k: [] for k in self.metrics_spec}
        for _ in range(self.n_bootstrap):
            p = rng.permutation(n)
            A, B1, B2 = p[:h], p[h:h + q], p[h + q:h + 2 * q][:s]
            S = rng.choice(m, size=s, replace=False)
            lo, hi = np.quantile(nn(B1, A), [self.close_quantile, 1 - self.close_quantile])
            db, ds = nn(B2, A), nn(n + S, A)
            base["too_close"].append(float((db <= lo).mean()))
            obs["too_close"].append(float((ds <= lo).mean()))
            base["too_far"].append(float((db > hi).mean()))
            obs["too_far"].append(float((ds > hi).mean()))
        mets = {}
        for k in self.metrics_spec:
            b = np.array(base[k])
            mets[k] = calibrate(np.array(obs[k]), np.r_[b, b + self.margin], self.quantile, self.tolerance)
        worst = min(mets, key=lambda k: mets[k]["score"])
        cal = {**mets[worst], "passed": all(v["passed"] for v in mets.values())}
        d_syn = nn(n + np.arange(m), np.arange(n))
        d_hold = nn(np.arange(n), np.arange(n), exclude_self=True)
        return ClassResult(label, PASS if cal["passed"] else FAIL, statistic=cal["statistic"], score=cal["score"],
                           threshold=cal["threshold"], n_real=n, n_synthetic=m, baseline=cal["baseline"],
                           details={"worst_feature": None if cal["passed"] else worst, "metric": worst, "metrics": mets,
                                    "close_quantile": self.close_quantile,
                                    "median_dcr_synthetic": float(np.median(d_syn)),
                                    "median_dcr_real_leave_one_out": float(np.median(d_hold)),
                                    "dcr_ratio": float(np.median(d_syn) / max(1e-12, np.median(d_hold))),
                                    "zero_distance_synthetic": int(np.sum(d_syn <= 1e-9)),
                                    "zero_distance_real": int(np.sum(d_hold <= 1e-9))})


class DiversityValidator(MetricValidator):
    """Mode collapse: within-set nearest-neighbour spread and k-means cluster reach (both higher is better)."""

    name = "diversity"
    statistic_name = "worst_metric"
    metrics_spec = {"nn_spread": True, "cluster_reach": True}

    def __init__(self, clusters: int = 8, max_dim: int | None = 64, **kw):
        super().__init__(**kw)
        self.clusters = int(clusters)
        self.max_dim = max_dim

    def metrics(self, a, other, rng):
        from sklearn.cluster import KMeans

        from .stats import knn

        na = float(np.median(knn(a[: len(other)], a[: len(other)], 1, exclude_self=True)[0]))
        no = float(np.median(knn(other, other, 1, exclude_self=True)[0]))
        k = max(2, min(self.clusters, len(a) // 4))
        km = KMeans(k, n_init=1, random_state=int(rng.integers(2**31))).fit(a)
        reach = len(np.unique(km.predict(other))) / k
        return {"nn_spread": float(np.log(max(no, 1e-12) / max(na, 1e-12))), "cluster_reach": float(reach)}
