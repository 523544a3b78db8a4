"""Label checks: are the synthetic labels valid, and does the synthetic data look like its label?

* :class:`SchemaValidator` (samples): annotations are well formed.  Images (:func:`image_problems`,
  the one image label check, which the generator tests use too): boxes inside the image and
  non-degenerate, masks of the image's size that agree with their boxes, keypoints inside, labels
  and categories among the real classes.  Text: spans within the text,
  ``start < end``, aligned (no leading/trailing space, not cutting a word), sorted and
  non-overlapping, matching their ``text`` when given.  Points: finite ``(N, 3)`` coordinates and
  per-point labels with exactly N entries; 3D boxes with positive sizes.
* :class:`LabelAgreementValidator` (features, every real class): a reference classifier (logistic
  regression) trained on all real classes labels the synthetic samples; accuracy and Cohen's kappa per
  class, calibrated against the classifier's cross-validated accuracy on the real class.
* :class:`ClassSeparationValidator` (features, every real class): a synthetic sample of class c should
  lie nearer (mean distance to its k nearest) real c than any other real class; the separated share
  is calibrated against the real class's own (leave-one-out) share.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from synthgen.io.common import mask_to_bbox
from synthgen.sample import Sample
from synthgen.seeding import derived_seed

from .distribution import calibrate
from .result import FAIL, INCOMPUTABLE, PASS, ClassResult, ValidationResult


# --- schema ------------------------------------------------------------------------------------

def image_problems(s: Sample, classes: Iterable[str] | None = None, min_area: float = 1.0) -> list[str]:
    """Problems with an image sample's labels (empty list: all good); the one image label check.

    The image is HxW[xC] uint8.  Every object has a box ``[x, y, w, h]`` inside the image with
    ``w, h > 0`` and ``w * h >= min_area``; a mask has the image's size, is not empty and its tight
    box equals the object's box; keypoints are ``[x, y, v]`` with visible ones (v > 0) inside the
    image.  With ``classes``, the image label and every object's category are among them.
    """
    a = np.asarray(s.data)
    if a.ndim not in (2, 3) or a.dtype != np.uint8:
        return [f"image must be HxW[xC] uint8, got {a.dtype}{a.shape}"]
    H, W = a.shape[:2]
    classes = None if classes is None else set(classes)
    out = []
    if classes is not None and s.label not in classes:
        out.append(f"label {s.label!r} not in classes")
    for i, o in enumerate(s.annotations.get("objects", []) or []):
        if classes is not None and o.get("category") not in classes:
            out.append(f"object {i}: category {o.get('category')!r} not in classes")
        bb = o.get("bbox")
        try:
            x, y, w, h = (float(v) for v in bb)
        except (TypeError, ValueError):
            out.append(f"object {i}: box {bb!r} is not [x, y, w, h]")
            bb = None
        if bb is not None:
            if not (w > 0 and h > 0 and w * h >= min_area):
                out.append(f"object {i}: degenerate box {list(bb)}")
            if x < 0 or y < 0 or x + w > W + 1e-6 or y + h > H + 1e-6:
                out.append(f"object {i}: box {list(bb)} outside the {W}x{H} image")
        if o.get("mask") is not None:
            m = np.asarray(o["mask"])
            if m.shape != (H, W):
                out.append(f"object {i}: mask {m.shape} does not match image {(H, W)}")
            else:
                tb = mask_to_bbox(m)
                if tb is None:
                    out.append(f"object {i}: empty mask")
                elif bb is not None and any(abs(p - q) > 1e-6 for p, q in zip(tb, (x, y, w, h))):
                    out.append(f"object {i}: mask box {tb} != box {list(bb)}")
        for kp in o.get("keypoints") or []:
            if np.ndim(kp) != 1 or len(kp) != 3:
                out.append(f"object {i}: keypoint {kp} is not [x, y, v]")
            elif kp[2] > 0 and not (0 <= kp[0] < W and 0 <= kp[1] < H):
                out.append(f"object {i}: visible keypoint {list(kp)} outside the image")
    return out


def _spans_of(ann: dict[str, Any]) -> list[dict]:
    for key in ("spans", "entities"):
        if key in ann and ann[key] is not None:
            return list(ann[key])
    return []


def _text_problems(s: Sample) -> list[str]:
    t = s.data
    if not isinstance(t, str):
        return [f"text must be a str, got {type(t).__name__}"]
    out, prev_end = [], -1
    spans = _spans_of(s.annotations)
    for i, sp in enumerate(sorted(spans, key=lambda d: (int(d.get("start", 0)), int(d.get("end", 0))))):
        try:
            a, b = int(sp["start"]), int(sp["end"])
        except (KeyError, TypeError, ValueError):
            out.append(f"span {i}: needs integer start and end")
            continue
        if not 0 <= a < b <= len(t):
            out.append(f"span {i}: [{a}, {b}) outside the text (length {len(t)}) or empty")
            continue
        frag = t[a:b]
        if "text" in sp and sp["text"] != frag:
            out.append(f"span {i}: text {sp['text']!r} != {frag!r} at [{a}, {b})")
        if frag != frag.strip():
            out.append(f"span {i}: [{a}, {b}) starts or ends with whitespace")
        if (a > 0 and t[a - 1].isalnum() and t[a].isalnum()) or (b < len(t) and t[b].isalnum() and t[b - 1].isalnum()):
            out.append(f"span {i}: [{a}, {b}) cuts a word")
        if a < prev_end:
            out.append(f"span {i}: [{a}, {b}) overlaps the previous span")
        prev_end = max(prev_end, b)
    return out


def _points_problems(s: Sample) -> list[str]:
    d = s.data
    pts = d.get("points") if isinstance(d, dict) else d
    try:
        p = np.asarray(pts, dtype=np.float64)
    except (TypeError, ValueError):
        return ["points must be a numeric (N, 3) array"]
    if p.ndim != 2 or p.shape[1] < 3:
        return [f"points must be (N, 3), got {p.shape}"]
    out = []
    if not np.all(np.isfinite(p[:, :3])):
        out.append("points contain NaN or inf")
    for key in ("point_labels", "labels", "semantic", "instance"):
        lab = s.annotations.get(key)
        if lab is None and isinstance(d, dict):
            lab = d.get(key) if key != "labels" else None
        if lab is not None and len(np.asarray(lab).reshape(-1)) != len(p):
            out.append(f"{key}: {len(np.asarray(lab).reshape(-1))} per-point labels for {len(p)} points")
    for i, bx in enumerate(s.annotations.get("boxes", []) or []):
        size = bx.get("size") if isinstance(bx, dict) else None
        if size is not None and not all(float(v) > 0 for v in size):
            out.append(f"box {i}: non-positive size {list(size)}")
    return out


PROBLEMS = {"text": _text_problems, "points": _points_problems}


def schema_problems(s: Sample, classes: Iterable[str] | None = None) -> list[str]:
    """Problems with a sample's annotations; ``classes`` (images) also checks labels and categories."""
    if s.modality == "image":
        return image_problems(s, classes)
    fn = PROBLEMS.get(s.modality)
    return fn(s) if fn else [f"unknown modality {s.modality!r}"]


def known_classes(real: dict[str, list[Sample]], synthetic: dict[str, list[Sample]]) -> set[str] | None:
    """The classes of the schema: real labels and object categories, and the classes asked for
    (None without real data: nothing to compare with)."""
    if not any(real.values()):
        return None
    cats = {o.get("category") for xs in real.values() for x in xs for o in (x.annotations.get("objects") or [])}
    return set(real) | set(synthetic) | {c for c in cats if c is not None}


class SchemaValidator:
    """Share of synthetic samples with invalid annotations; passes when at most ``max_invalid``."""

    name = "schema"
    statistic_name = "invalid_share"
    reads = "samples"

    def __init__(self, max_invalid: float = 0.0, examples: int = 20):
        self.max_invalid = float(max_invalid)
        self.examples = int(examples)

    def validate_samples(self, real: dict[str, list[Sample]], synthetic: dict[str, list[Sample]], seed: int = 0) -> ValidationResult:
        per = {}
        classes = known_classes(real, synthetic)
        for label, ys in synthetic.items():
            xs = real.get(label, [])
            if not ys:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=len(xs), reason=f"class '{label}': no synthetic samples")
                continue
            bad = [(y.id, p) for y in ys for p in schema_problems(y, classes)]
            bad_ids = {i for i, _ in bad}
            share = len(bad_ids) / len(ys)
            real_share = (sum(1 for x in xs if schema_problems(x, classes)) / len(xs)) if xs else 0.0
            passed = share <= self.max_invalid + 1e-12
            if self.max_invalid > 0:
                score = float(np.clip(1.0 - 0.5 * share / self.max_invalid, 0.0, 1.0))
            else:
                score = 1.0 if passed else float(0.5 * (1.0 - share))
            per[label] = ClassResult(label, PASS if passed else FAIL, statistic=share, score=score, threshold=self.max_invalid,
                                     n_real=len(xs), n_synthetic=len(ys), baseline={"real_invalid_share": real_share},
                                     details={"invalid": len(bad_ids), "problems": [f"{i}: {p}" for i, p in bad[: self.examples]],
                                              "worst_feature": None if passed else "annotations"})
        return ValidationResult(self.name, self.statistic_name, per)


# --- label agreement and class separation ---------------------------------------------------------

def _space(real: dict[str, np.ndarray], max_dim: int | None):
    from .stats import pca_basis

    X = np.vstack([np.asarray(v, np.float64) for v in real.values()])
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    basis = pca_basis((X - mu) / sd, min(max_dim, len(X) - 1)) if max_dim and X.shape[1] > max_dim else None

    def f(z):
        z = (np.asarray(z, np.float64) - mu) / sd
        return z @ basis if basis is not None else z

    return f


class _AllClassValidator:
    statistic_name = "share"
    reads = "features"  # synthgen.protocols.Validator

    def __init__(self, n_bootstrap: int = 200, quantile: float = 0.95, tolerance: float = 1.0, min_real: int = 5,
                 min_synthetic: int = 5, max_dim: int | None = 64):
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_real = int(min_real)
        self.min_synthetic = int(min_synthetic)
        self.max_dim = max_dim

    def _boot(self, flags: np.ndarray, size: int, rng) -> np.ndarray:
        """What the share would look like for ``size`` samples as good as the real ones: the real share
        drawn from its Jeffreys posterior Beta(k + 1/2, n - k + 1/2), then a binomial draw of ``size``.
        (A plain bootstrap of a perfect real share has no spread and would fail any single miss.)"""
        k, n = float(np.sum(flags)), len(flags)
        p = rng.beta(k + 0.5, n - k + 0.5, self.n_bootstrap)
        return rng.binomial(size, p) / size

    def validate(self, real, synthetic, feature_names, seed: int = 0) -> ValidationResult:
        real = {k: np.asarray(v, np.float64) for k, v in real.items() if len(v)}
        per = {}
        usable = {k: v for k, v in real.items() if len(v) >= self.min_real}
        for label, y in synthetic.items():
            y = np.asarray(y, np.float64)
            n = len(real.get(label, ()))
            if len(usable) < 2 or label not in usable:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=n, n_synthetic=len(y),
                                         reason=f"class '{label}': needs at least 2 real classes with {self.min_real}+ samples "
                                                f"including '{label}' (has {len(usable)})")
            elif len(y) < self.min_synthetic:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=n, n_synthetic=len(y),
                                         reason=f"class '{label}': {len(y)} synthetic samples, need at least {self.min_synthetic}")
        todo = {k: v for k, v in synthetic.items() if k not in per}
        if todo:
            per.update(self._run(usable, todo, seed))
        return ValidationResult(self.name, self.statistic_name, per)


class LabelAgreementValidator(_AllClassValidator):
    """Reference classifier trained on real features of every class labels the synthetic samples."""

    name = "label_agreement"
    statistic_name = "accuracy"

    def __init__(self, folds: int = 5, C: float = 1.0, min_real_accuracy: float = 0.5, **kw):
        super().__init__(**kw)
        self.folds = int(folds)
        self.C = float(C)
        self.min_real_accuracy = float(min_real_accuracy)

    def _run(self, real, synthetic, seed):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        from .stats import cohen_kappa

        labels = list(real)
        f = _space(real, self.max_dim)
        X = f(np.vstack([real[k] for k in labels]))
        t = np.concatenate([np.full(len(real[k]), i) for i, k in enumerate(labels)])
        folds = max(2, min(self.folds, min(len(real[k]) for k in labels)))
        cv = np.empty(len(t), dtype=int)
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed % (2**32)).split(X, t):
            cv[te] = LogisticRegression(C=self.C, max_iter=1000).fit(X[tr], t[tr]).predict(X[te])
        clf = LogisticRegression(C=self.C, max_iter=1000).fit(X, t)
        per = {}
        for label, y in synthetic.items():
            ci = labels.index(label)
            pred = clf.predict(f(y))
            ok = pred == ci
            rng = np.random.default_rng(derived_seed(seed, self.name, label))
            real_ok = (cv[t == ci] == ci).astype(float)
            if real_ok.mean() < self.min_real_accuracy:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=len(real[label]), n_synthetic=len(y),
                                         reason=f"class '{label}': the reference classifier recognises only {real_ok.mean():.0%} of real "
                                                f"'{label}' samples (< {self.min_real_accuracy:.0%}); these features cannot judge labels",
                                         baseline={"real_cv_accuracy": float(real_ok.mean())})
                continue
            cal = calibrate(np.array([ok.mean()]), self._boot(real_ok, len(y), rng), self.quantile, self.tolerance,
                            higher_is_better=True)
            # kappa on the evaluation set where class c's real samples are replaced by the synthetic ones
            others = t != ci
            k_syn = cohen_kappa(np.r_[t[others], np.full(len(y), ci)] == ci, np.r_[cv[others], pred] == ci)
            k_real = cohen_kappa(t == ci, cv == ci)
            confused = {labels[j]: int(c) for j, c in zip(*np.unique(pred[~ok], return_counts=True))} if (~ok).any() else {}
            per[label] = ClassResult(label, PASS if cal["passed"] else FAIL, statistic=float(ok.mean()), score=cal["score"],
                                     threshold=cal["threshold"], n_real=len(real[label]), n_synthetic=len(y),
                                     baseline={**cal["baseline"], "real_cv_accuracy": float(real_ok.mean()), "real_kappa": k_real},
                                     details={"accuracy": float(ok.mean()), "kappa": k_syn, "predicted_as": confused,
                                              "classifier": "logistic regression on standardised features",
                                              "worst_feature": None if cal["passed"] else "accuracy"})
        return per


class ClassSeparationValidator(_AllClassValidator):
    """Share of synthetic samples nearer (k-NN mean distance) their own real class than any other."""

    name = "class_separation"
    statistic_name = "separated_share"

    def __init__(self, k: int = 5, min_real_share: float = 0.5, **kw):
        super().__init__(**kw)
        self.k = int(k)
        self.min_real_share = float(min_real_share)

    def _class_dist(self, z, ref, exclude_self=False):
        from .stats import knn

        k = min(self.k, len(ref) - (1 if exclude_self else 0))
        return knn(z, ref, k, exclude_self=exclude_self)[0].mean(1)

    def _run(self, real, synthetic, seed):
        labels = list(real)
        f = _space(real, self.max_dim)
        R = {k: f(v) for k, v in real.items()}
        per = {}
        for label, y in synthetic.items():
            ys = f(y)
            own_s = self._class_dist(ys, R[label])
            oth_s = np.min([self._class_dist(ys, R[c]) for c in labels if c != label], axis=0)
            own_r = self._class_dist(R[label], R[label], exclude_self=True)
            oth_r = np.min([self._class_dist(R[label], R[c]) for c in labels if c != label], axis=0)
            sep_s, sep_r = own_s < oth_s, own_r < oth_r
            if sep_r.mean() < self.min_real_share:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=len(real[label]), n_synthetic=len(y),
                                         reason=f"class '{label}': only {sep_r.mean():.0%} of real '{label}' samples lie nearest their "
                                                f"own class (< {self.min_real_share:.0%}); these features do not separate the classes",
                                         baseline={"real_separated_share": float(sep_r.mean())})
                continue
            margin = float(np.median((oth_s - own_s) / np.maximum(oth_s + own_s, 1e-12)))
            rng = np.random.default_rng(derived_seed(seed, self.name, label))
            cal = calibrate(np.array([sep_s.mean()]), self._boot(sep_r.astype(float), len(y), rng), self.quantile,
                            self.tolerance, higher_is_better=True)
            per[label] = ClassResult(label, PASS if cal["passed"] else FAIL, statistic=float(sep_s.mean()), score=cal["score"],
                                     threshold=cal["threshold"], n_real=len(real[label]), n_synthetic=len(y),
                                     baseline={**cal["baseline"], "real_separated_share": float(sep_r.mean())},
                                     details={"median_margin": margin, "k": self.k,
                                              "worst_feature": None if cal["passed"] else "separation"})
        return per
