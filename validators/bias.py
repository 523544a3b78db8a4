"""Bias checks: are the attributes of the synthetic samples of a class spread like the real ones?

A samples validator (``reads = "samples"``): it reads human-meaningful attributes from the samples
themselves, per modality, and compares them class by class with the real data's:

* text: length in tokens; entity types (the share of each span label); first-name gender of the
  ``PERSON``-like spans (Faker's first-name lists; for Faker-generated samples the slot that made the
  name, ``first_name_male``, decides when the provenance records it); the Faker locales of the
  synthetic samples are listed in the details (real text has no locale to compare with);
* images: global brightness, contrast and background brightness (the border, or everything outside
  the object masks); with objects (boxes or masks): object size, position (centre x, y) and object
  brightness;
* point clouds: point count, range (the distance of the object, or of the cloud's centroid, from the
  sensor origin), extent, orientation of the principal axis (4 bins of the yaw, a category) and, for
  annotated scans, points per object (occlusion: fewer points for the same object) or KITTI's
  ``occluded`` level.

A numeric attribute is skewed when the synthetic median falls outside the real ``[low, high]``
quantile range (default 5 % to 95 %) by more than the attribute's resolution (:data:`RESOLUTION`:
the smallest difference that matters); a categorical one when its total variation distance from the
real shares exceeds both the real-vs-real threshold (``quantile`` of the distance between the real
shares and ``n_bootstrap`` resamples of the synthetic size drawn from them, times ``tolerance``) and
``share_tolerance`` (the stated largest share difference that is not worth a warning).  A skewed
class fails this validator with the attribute named and its direction; ``conf/gate/default.yaml``
makes it a WARN (severity warn), so it never blocks a merge by default.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from synthgen.sample import Sample

from .result import FAIL, INCOMPUTABLE, PASS, ClassResult, ValidationResult

PERSON_LABELS = {"PERSON", "PER", "NAME", "FIRST_NAME", "PATIENT", "CUSTOMER"}
# The smallest difference that matters per numeric attribute: a synthetic median outside the real range
# by less than this is not a skew (real digits have a background of exactly 0; 3 grey levels of
# augmentation noise are not a bias).  Luma, sizes and positions are fractions of the image; range and
# extent are relative to the real median.
RESOLUTION = {"brightness": 0.02, "contrast": 0.02, "background": 0.02, "object_brightness": 0.02, "object_size": 0.02,
              "object_x": 0.02, "object_y": 0.02, "length_tokens": 1.0, "point_count": 1.0, "points_per_object": 1.0}
RELATIVE_RESOLUTION = {"range": 0.02, "extent": 0.02}
_SLOT_GENDER = (("female", "female"), ("male", "male"))


def _luma(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, np.float64)
    if a.ndim == 2:
        return a / 255.0
    if a.shape[2] >= 3:
        return (0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]) / 255.0
    return a[..., 0] / 255.0


def image_attributes(s: Sample) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Numeric attributes of one image (brightness, contrast, background; object size, position and
    brightness where the annotations have boxes or masks)."""
    y = _luma(s.data)
    h, w = y.shape[:2]
    num = {"brightness": float(y.mean()), "contrast": float(y.std())}
    objs = [o for o in (s.annotations or {}).get("objects") or [] if isinstance(o, dict)]
    union = np.zeros((h, w), bool)
    sizes, cx, cy, obright = [], [], [], []
    for o in objs:
        m = o.get("mask")
        m = np.asarray(m, bool) if m is not None and np.shape(m) == (h, w) else None
        box = o.get("bbox")
        if m is None and box is not None and len(box) == 4:
            x0, y0, bw, bh = (float(v) for v in box)
            m = np.zeros((h, w), bool)
            m[max(0, int(y0)):max(0, int(np.ceil(y0 + bh))), max(0, int(x0)):max(0, int(np.ceil(x0 + bw)))] = True
        if m is None or not m.any():
            continue
        union |= m
        ys, xs = np.nonzero(m)
        sizes.append(float(np.sqrt(m.sum() / (h * w))))
        cx.append(float(xs.mean() + 0.5) / w)
        cy.append(float(ys.mean() + 0.5) / h)
        obright.append(float(y[m].mean()))
    if sizes:
        num.update(object_size=float(np.mean(sizes)), object_x=float(np.mean(cx)), object_y=float(np.mean(cy)),
                   object_brightness=float(np.mean(obright)))
        bg = ~union
        if bg.any():
            num["background"] = float(y[bg].mean())
    else:
        b = max(1, min(h, w) // 8)
        frame = np.ones((h, w), bool)
        frame[b:h - b, b:w - b] = False
        num["background"] = float(y[frame].mean())
    return num, {}


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _gender_lists(locales: Iterable[str]) -> dict[str, str]:
    """first name -> "male" | "female" from Faker's person providers (names in both lists are left out)."""
    import importlib

    male, female = set(), set()
    for loc in sorted(set(locales) | {"en_US"}):
        try:
            p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except Exception:  # noqa: BLE001 - Faker missing or no such locale: no names from it
            continue
        male |= set(getattr(p, "first_names_male", ()) or ())
        female |= set(getattr(p, "first_names_female", ()) or ())
    out = {n: "male" for n in male - female}
    out.update({n: "female" for n in female - male})
    return out


def text_attributes(s: Sample, names: dict[str, str]) -> tuple[dict[str, float], dict[str, list[str]]]:
    text = s.data if isinstance(s.data, str) else str(s.data)
    spans = [sp for sp in (s.annotations or {}).get("spans") or [] if isinstance(sp, dict)]
    cat: dict[str, list[str]] = {"entity_type": [str(sp.get("label")) for sp in spans if sp.get("label") is not None]}
    slots = [sl for sl in ((s.provenance.params or {}).get("slots") or []) if isinstance(sl, dict)] if s.provenance else []
    slot_gender = [g for sl in slots if str(sl.get("label")).upper() in PERSON_LABELS
                   for key, g in _SLOT_GENDER if key in str(sl.get("slot", "")).lower()][:1]
    genders = []
    for sp in spans:
        if str(sp.get("label", "")).upper() in PERSON_LABELS:
            first = str(sp.get("text") or text[int(sp.get("start", 0)):int(sp.get("end", 0))]).split()
            g = names.get(first[0].strip(".,")) if first else None
            if g:
                genders.append(g)
    cat["first_name_gender"] = genders or slot_gender
    return {"length_tokens": float(len(_TOKEN.findall(text)))}, cat


def _yaw_bin(yaw: float) -> str:
    a = float(yaw) % np.pi
    k = int(a // (np.pi / 4)) % 4
    return ["0-45", "45-90", "90-135", "135-180"][k] + " deg"


def points_attributes(s: Sample) -> tuple[dict[str, float], dict[str, list[str]]]:
    p = np.asarray(s.data, np.float64)[:, :3]
    ann = s.annotations or {}
    num: dict[str, float] = {"point_count": float(len(p))}
    cat: dict[str, list[str]] = {}
    if not len(p):
        return num, cat
    boxes = [b for b in ann.get("boxes3d") or [] if isinstance(b, dict) and b.get("center") is not None]
    own = [b for b in boxes if b.get("category") in (None, s.label)] or boxes
    c = p.mean(0)
    if own and len(own) < len(p):  # a scene: the class's objects are the subject
        centers = np.asarray([b["center"] for b in own], np.float64)[:, :3]
        num["range"] = float(np.median(np.linalg.norm(centers[:, :2], axis=1)))
        if all("yaw" in b for b in own):
            cat["orientation"] = [_yaw_bin(b["yaw"]) for b in own]
        npts = [float(b["num_points"]) for b in own if b.get("num_points") is not None]
        if npts:
            num["points_per_object"] = float(np.median(npts))
        occl = [str(b["occluded"]) for b in own if b.get("occluded") is not None]
        if occl:
            cat["occlusion"] = occl
    else:
        num["range"] = float(np.linalg.norm(c))
        q = p - c
        num["extent"] = float(np.sqrt((q ** 2).sum(1)).max())
        if len(p) >= 3:
            cov = np.cov(q[:, :2].T)
            vals, vecs = np.linalg.eigh(cov)
            if vals[-1] > 1.05 * max(vals[0], 1e-12):  # an elongated cloud has an axis to speak of
                v = vecs[:, -1]
                cat["orientation"] = [_yaw_bin(np.arctan2(v[1], v[0]))]
    return num, cat


class BiasValidator:
    """Per class: synthetic attribute medians inside the real [low, high] quantile range, and
    category shares (entity types, gender, orientation, occlusion) within the real-vs-real spread."""

    name = "bias"
    statistic_name = "skewed_attributes"
    reads = "samples"

    def __init__(self, low: float = 0.05, high: float = 0.95, share_tolerance: float = 0.1, n_bootstrap: int = 200,
                 quantile: float = 0.95, tolerance: float = 1.0, min_real: int = 5, min_synthetic: int = 5,
                 max_samples: int | None = 2000):
        self.low = float(low)
        self.high = float(high)
        self.share_tolerance = float(share_tolerance)
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_real = int(min_real)
        self.min_synthetic = int(min_synthetic)
        self.max_samples = None if max_samples is None else int(max_samples)

    # --- attributes ------------------------------------------------------------------------------

    def _attributes(self, samples: list[Sample], names: dict[str, str] | None):
        if self.max_samples and len(samples) > self.max_samples:  # evenly spaced: deterministic, covers the set
            samples = [samples[int(i)] for i in np.linspace(0, len(samples) - 1, self.max_samples)]
        rows = []
        for s in samples:
            m = "text" if isinstance(s.data, str) else getattr(s, "modality", None) or "image"
            if m == "text":
                rows.append(text_attributes(s, names or {}))
            elif m == "points":
                rows.append(points_attributes(s))
            else:
                rows.append(image_attributes(s))
        return rows

    # --- the check -------------------------------------------------------------------------------

    def validate_samples(self, real: dict[str, list[Sample]], synthetic: dict[str, list[Sample]], seed: int = 0) -> ValidationResult:
        from synthgen.seeding import derived_seed

        names = None
        if any(isinstance(s.data, str) for xs in synthetic.values() for s in xs[:1]):
            locales = {str((s.provenance.params or {}).get("locale")) for xs in synthetic.values() for s in xs
                       if s.provenance and (s.provenance.params or {}).get("locale")}
            names = _gender_lists(locales)
        per = {}
        for label, ys in synthetic.items():
            xs = list(real.get(label, []))
            n_r, n_s = len(xs), len(ys)
            if n_s < self.min_synthetic or n_r < self.min_real:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=n_r, n_synthetic=n_s,
                                         reason=f"class '{label}': {n_r} real and {n_s} synthetic samples; the bias check needs "
                                                f"at least {self.min_real} real and {self.min_synthetic} synthetic")
                continue
            ra, sa = self._attributes(xs, names), self._attributes(ys, names)
            attrs, flags = {}, []
            scores = []
            for key in sorted({k for n, _ in ra for k in n} & {k for n, _ in sa for k in n}):
                r = np.asarray([n[key] for n, _ in ra if key in n], np.float64)
                s = np.asarray([n[key] for n, _ in sa if key in n], np.float64)
                if len(r) < self.min_real or len(s) < self.min_synthetic:
                    continue
                med = float(np.median(s))
                rank = float((np.sum(r < med) + 0.5 * np.sum(r == med)) / len(r))  # where the synthetic median sits
                lo, hi = (float(v) for v in np.quantile(r, [self.low, self.high]))
                edge = min(self.low, 1.0 - self.high)
                m = min(rank, 1.0 - rank)
                sc = 0.5 * m / edge if m < edge else 0.5 + 0.5 * (m - edge) / max(0.5 - edge, 1e-12)
                beyond = lo - med if med < lo else med - hi if med > hi else 0.0
                res = RESOLUTION.get(key, 0.0) + RELATIVE_RESOLUTION.get(key, 0.0) * abs(float(np.median(r)))
                skew = (rank < self.low or rank > self.high) and beyond > res
                if not skew and sc < 0.5:  # outside the real range, but by less than the resolution
                    sc = 0.75 - 0.25 * beyond / res if res > 0 else 0.5
                direction = "lower" if rank < 0.5 else "higher"
                attrs[key] = {"kind": "numeric", "real_median": float(np.median(r)), "real_low": lo, "real_high": hi,
                              "synthetic_median": med, "rank": rank, "score": float(np.clip(sc, 0, 1)), "skewed": bool(skew)}
                if skew:
                    sc = min(sc, 0.499)
                    excess = beyond / max(hi - lo, res, 1e-12)
                    msg = (f"{key}: synthetic median {med:.4g} is {direction} than the real "
                           f"{100 * self.low:g}-{100 * self.high:g}% range [{lo:.4g}, {hi:.4g}]")
                    flags.append((sc, key, msg, direction, float(excess)))
                scores.append(float(np.clip(sc, 0, 1)))
            locales = sorted({str((y.provenance.params or {}).get("locale")) for y in ys
                              if y.provenance and (y.provenance.params or {}).get("locale")})
            for key in sorted({k for _, c in ra for k in c} & {k for _, c in sa for k in c}):
                rc = [v for _, c in ra for v in c.get(key, [])]
                scat = [v for _, c in sa for v in c.get(key, [])]
                if len(rc) < self.min_real or len(scat) < self.min_synthetic:
                    continue
                res = self._categorical(rc, scat, derived_seed(seed, "bias", label, key))
                attrs[key] = {"kind": "categorical", **res}
                sc = res["score"]
                if res["skewed"]:
                    cat, d = res["largest"], res["largest_difference"]
                    direction = "over-represented" if d > 0 else "under-represented"
                    msg = (f"{key}: '{cat}' {direction} ({res['synthetic_shares'][cat]:.0%} synthetic vs "
                           f"{res['real_shares'].get(cat, 0.0):.0%} real; distance {res['distance']:.2f} > {res['threshold']:.2f})")
                    flags.append((sc, key, msg, direction, (res["distance"] - res["threshold"]) / max(res["threshold"], 1e-12)))
                scores.append(sc)
            if not scores:
                per[label] = ClassResult(label, INCOMPUTABLE, n_real=n_r, n_synthetic=n_s,
                                         reason=f"class '{label}': no attribute could be read on both sides")
                continue
            flags.sort(key=lambda f: (round(f[0], 9), -f[4], f[1]))  # lowest score, then furthest outside, first
            passed = not flags
            score = float(min(scores)) if passed else float(min(min(scores), 0.499))
            score = max(score, 0.5) if passed else score
            details: dict[str, Any] = {"attributes": attrs, "flags": [f[2] for f in flags],
                                       "worst_feature": flags[0][1] if flags else None,
                                       "direction": flags[0][3] if flags else None}
            if locales:
                details["synthetic_locales"] = locales
            per[label] = ClassResult(label, PASS if passed else FAIL, statistic=float(len(flags)), score=score,
                                     threshold=0.5, n_real=n_r, n_synthetic=n_s, details=details,
                                     reason="; ".join(f[2] for f in flags) if flags else None)
        return ValidationResult(self.name, self.statistic_name, per)

    def _categorical(self, real: list[str], synthetic: list[str], seed: int) -> dict[str, Any]:
        cats = sorted(set(real) | set(synthetic))
        p = np.asarray([real.count(c) for c in cats], np.float64) / len(real)
        q = np.asarray([synthetic.count(c) for c in cats], np.float64) / len(synthetic)
        tvd = 0.5 * float(np.abs(p - q).sum())
        rng = np.random.default_rng(seed)
        # real-vs-real: how far do shares of len(synthetic) draws from the real shares stray by chance?
        draws = rng.multinomial(len(synthetic), p, size=self.n_bootstrap) / len(synthetic)
        null = 0.5 * np.abs(draws - p).sum(1)
        thr = max(self.tolerance * float(np.quantile(null, self.quantile)), self.share_tolerance)
        diff = q - p
        i = int(np.argmax(np.abs(diff)))
        skewed = tvd > thr
        score = 0.5 * thr / tvd if skewed else 1.0 - 0.5 * tvd / thr
        if skewed:
            score = min(score, 0.499)
        return {"real_shares": {c: float(v) for c, v in zip(cats, p)}, "synthetic_shares": {c: float(v) for c, v in zip(cats, q)},
                "distance": tvd, "threshold": thr, "largest": cats[i], "largest_difference": float(diff[i]),
                "score": float(np.clip(score, 0.0, 1.0)), "skewed": bool(skewed)}
