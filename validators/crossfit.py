"""Cross-fitted validators: evidence about synthetic data that never compares a sample with its parents.

A rare class has 10-20 real samples and no held-out set.  Judging synthetic samples against the
real samples they were made from is circular (a copier looks perfect).  Cross-fitting fixes that:
every class's real samples are split into K folds, R times (:func:`make_folds`); for fold k the
pipeline fits the generator without fold k and generates a validation batch from parents outside
it.  A :class:`Fold` carries, for one (repeat, fold), the real features outside the fold (``train``:
the only possible parents), inside it (``test``: held out), and the synthetic features made from
``train``.  Validators with ``reads = "folds"`` read a list of folds through ``validate_folds``.

* :class:`UtilityValidator` asks what a user wants to know: does adding the synthetic samples raise
  the class's recall on held-out real data, by more than sampling noise, without hurting the other
  classes?  It also reports the gain over plain oversampling, the baseline a generator must beat.
* :class:`CrossFitLabelValidator` asks whether the synthetic samples look like their label to a
  classifier that never saw their parents, calibrated against real samples judged by the same
  classifier.

Both refuse (``incomputable``, with a reason) rather than fall back on circular evidence: their plain
``validate(real, synthetic, ...)`` reports every class as incomputable.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from synthgen.errors import ConfigError
from synthgen.seeding import derived_seed

from .distribution import calibrate
from .result import FAIL, INCOMPUTABLE, PASS, ClassResult, ValidationResult

# (repeat, fold, {label: train indices}, {label: test indices})
FoldIndices = tuple[int, int, dict[str, np.ndarray], dict[str, np.ndarray]]


# --- folds ----------------------------------------------------------------------------------------

@dataclass
class Fold:
    """One cross-fitting fold.

    ``train``: real features per class outside the fold (the only possible parents); ``test``: real
    features per class inside the fold (held out); ``synthetic``: features of synthetic samples per
    filled class, generated only from parents in ``train`` (generator fitted without ``test``).
    """

    repeat: int
    fold: int
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    synthetic: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_indices(cls, real: dict[str, np.ndarray], repeat: int, fold: int, train_idx: dict[str, np.ndarray],
                     test_idx: dict[str, np.ndarray], synthetic: dict[str, np.ndarray] | None = None) -> "Fold":
        """Select the rows of ``real`` that one :func:`make_folds` entry names."""
        return cls(int(repeat), int(fold),
                   {c: np.asarray(real[c])[np.asarray(i, dtype=int)] for c, i in train_idx.items()},
                   {c: np.asarray(real[c])[np.asarray(i, dtype=int)] for c, i in test_idx.items()},
                   dict(synthetic or {}))


def _size(v: Any) -> int:
    return int(v) if isinstance(v, (int, np.integer)) else len(v)


def effective_k(sizes: dict[str, int], k: int) -> int:
    """The number of folds :func:`make_folds` uses: ``k`` clipped to the smallest class with at least
    2 samples (or groups) so each such class has a test sample in every fold, never below 2."""
    if int(k) < 2:
        raise ConfigError(f"k: cross-fitting needs at least 2 folds, got {k}")
    multi = [n for n in sizes.values() if n >= 2]
    return max(2, min([int(k), *multi]))


def make_folds(real: dict[str, Any], k: int, repeats: int, seed: int,
               groups: dict[str, Sequence[Any]] | None = None) -> list[FoldIndices]:
    """Stratified, repeated K-fold split of every class, on indices only.

    ``real`` maps each label to its samples (anything with a length; an int is read as the count).
    Returns ``(repeat, fold, {label: train_idx}, {label: test_idx})`` for repeat 0..repeats-1 and fold
    0..k'-1, where k' = :func:`effective_k` (``k`` clipped to the smallest class with 2+ samples, at
    least 2).  Per repeat each class's indices are permuted and dealt round-robin to the folds from a
    random starting fold, so fold sizes differ by at most one and every sample is tested exactly once
    per repeat.  A class with fewer samples than k' (only a class of one sample, given the clipping)
    is dealt the same way: its sample is tested in one fold and is a possible parent in the others,
    and the other folds hold none of it in ``test``.  Each class draws from its own generator seeded
    from (seed, repeat, label), so adding a class never reshuffles the others.  Index arrays are sorted.

    ``groups`` (per label, one key per sample): samples sharing a key (several clouds sampled from one
    mesh, crops of one photograph) are dealt together, so a fold's held-out samples never have a
    near-copy among its parents; k is then clipped by the number of groups.
    """
    if int(repeats) < 1:
        raise ConfigError(f"repeats: need at least 1, got {repeats}")
    sizes = {str(c): _size(v) for c, v in real.items()}
    keys = {c: list(groups[c]) if groups and c in groups else list(range(n)) for c, n in sizes.items()}
    for c, ks in keys.items():
        if len(ks) != sizes[c]:
            raise ConfigError(f"groups: class '{c}' has {len(ks)} group keys for {sizes[c]} samples")
    units = {c: list(dict.fromkeys(ks)) for c, ks in keys.items()}  # distinct groups, first-seen order
    kk = effective_k({c: len(u) for c, u in units.items()}, k)
    out: list[FoldIndices] = []
    for r in range(int(repeats)):
        assign = {}
        for c, u in units.items():
            rng = np.random.default_rng(derived_seed(seed, "crossfit-folds", r, c))
            perm = rng.permutation(len(u))
            start = int(rng.integers(kk))
            where = np.empty(len(u), dtype=int)
            where[perm] = (start + np.arange(len(u))) % kk
            fold_of = {g: int(where[i]) for i, g in enumerate(u)}
            assign[c] = np.array([fold_of[g] for g in keys[c]], dtype=int)
        for f in range(kk):
            train = {c: np.flatnonzero(a != f) for c, a in assign.items()}
            test = {c: np.flatnonzero(a == f) for c, a in assign.items()}
            out.append((r, f, train, test))
    return out


def _check_folds(folds: Sequence[Fold]) -> str | None:
    """Why these folds cannot be used (None when they can): within each repeat, every class's real
    samples must be partitioned by the folds (each tested once), and every repeat must hold the same
    real samples."""
    by_rep: dict[int, list[Fold]] = defaultdict(list)
    for f in folds:
        by_rep[int(f.repeat)].append(f)
    rows0: dict[str, np.ndarray] = {}
    for r, fs in sorted(by_rep.items()):
        ids = [f.fold for f in fs]
        if len(set(ids)) != len(ids):
            return f"repeat {r}: fold ids repeat ({sorted(ids)})"
        if len(fs) < 2:
            return f"repeat {r}: {len(fs)} fold, need at least 2 (folds are missing)"
        labels = set().union(*(set(f.train) | set(f.test) for f in fs))
        for c in sorted(labels):
            tot = {len(f.train.get(c, ())) + len(f.test.get(c, ())) for f in fs}
            n_test = sum(len(f.test.get(c, ())) for f in fs)
            if len(tot) != 1 or n_test != tot.pop():
                return (f"repeat {r}: the folds do not partition class '{c}' (test sizes {[len(f.test.get(c, ())) for f in fs]}, "
                        f"train+test sizes differ or folds are missing)")
            rows = _canonical(np.vstack([np.asarray(f.test[c], np.float64) for f in fs if len(f.test.get(c, ()))])) \
                if n_test else np.zeros((0, 0))
            if c not in rows0:
                rows0[c] = rows
            elif rows0[c].shape != rows.shape or not np.array_equal(rows0[c], rows):
                return f"repeat {r}: class '{c}' holds other real samples than repeat {min(by_rep)}"
    return None


def _canonical_order(x: np.ndarray) -> np.ndarray:
    """A row order that depends only on the rows' values: pairs the same real sample across repeats."""
    x = np.ascontiguousarray(np.asarray(x, np.float64).reshape(len(x), -1))
    return np.lexsort(x.T[::-1]) if x.shape[1] else np.arange(len(x))


def _canonical(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(len(x), -1)[_canonical_order(x)]


def _no_folds(name: str, statistic_name: str, synthetic: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> ValidationResult:
    per = {label: ClassResult(label, INCOMPUTABLE, n_real=len(real.get(label, ())), n_synthetic=len(y),
                              reason=f"class '{label}': {name} needs cross-fitted folds (validate_folds); comparing "
                                     f"synthetic samples with the real samples they were made from would be circular")
           for label, y in synthetic.items()}
    return ValidationResult(name, statistic_name, per)


def _estimator(spec: Any, seed: int, key: str):
    """An unfitted estimator from a factory (Hydra ``_partial_: true``) or a template (cloned); a
    ``random_state`` left at None is set from ``seed`` so results are deterministic."""
    if hasattr(spec, "fit") and hasattr(spec, "get_params"):
        from sklearn.base import clone

        est = clone(spec)
    elif callable(spec):
        est = spec()
    else:
        raise ConfigError(f"{key}: must be a callable returning an estimator with fit/predict, got {type(spec).__name__}")
    if not (hasattr(est, "fit") and hasattr(est, "predict")):
        raise ConfigError(f"{key}: the factory returned {type(est).__name__}, which has no fit/predict")
    if hasattr(est, "get_params") and "random_state" in est.get_params() and est.get_params()["random_state"] is None:
        est.set_params(random_state=int(seed % (2**32)))
    return est


def _check_spec(spec: Any, key: str, names: Sequence[str]) -> None:
    if spec is None or (isinstance(spec, str) and spec in names) or callable(spec) or hasattr(spec, "fit"):
        return
    raise ConfigError(f"{key}: expected {' or '.join(repr(n) for n in names)} or a callable returning an estimator, got {spec!r}")


def _stack(d: dict[str, np.ndarray], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    xs = [np.asarray(d[c], np.float64) for c in labels if c in d and len(d[c])]
    ys = [np.full(len(d[c]), i) for i, c in enumerate(labels) if c in d and len(d[c])]
    if not xs:
        return np.zeros((0, 0)), np.zeros(0, dtype=int)
    return np.vstack(xs), np.concatenate(ys)


def _f1(y: np.ndarray, p: np.ndarray, c: int) -> float:
    tp = float(np.sum((p == c) & (y == c)))
    den = float(np.sum(p == c) + np.sum(y == c))
    return 2 * tp / den if den else 0.0


# --- utility -------------------------------------------------------------------------------------

class UtilityValidator:
    """Does the synthetic data raise the class's recall on held-out real data, without harming others?

    For each fold three probes are fitted and predict the fold's real test samples of every class:
    A on the real train part, B on real train plus the class's synthetic samples, O on real train
    with the class's train rows duplicated at random (seeded) up to the same count (plain
    oversampling, the baseline a generator must beat).  Predictions are pooled over the folds of a
    repeat (each real sample tested once) and the per-sample recall change B - A is averaged over
    repeats.  Statistic: the recall gain.  Its CI is a paired percentile bootstrap over the class's
    real test samples (the unit of independence; the variability of the probes' training sets is
    not in it, see ``stability``).

    With ``reference="oversampling"`` the verdict (statistic, CI, p-value, stability) is about B - O
    instead: the synthetic data must beat duplicating the real rows.

    Verdict: passed iff the CI's lower bound > ``min_gain`` AND the largest recall drop of any other
    class (point estimate averaged over repeats) <= ``harm_tolerance``.  Score:
    ``0.5 + 0.5 * tanh(m / score_scale)`` with margin ``m = min(lower - min_gain, harm_tolerance -
    worst_drop)``: 0.5 at the threshold, monotone in the lower bound; a class exactly at the gain
    threshold fails (the gain must be positive) and scores 0.5 - 1e-9, so score >= 0.5 iff passed.
    ``p_value``: one-sided bootstrap p for gain <= ``min_gain``, counting the observed,
    ``(1 + b) / (1 + n_bootstrap)``.

    No room, no verdict: when even a perfect generator (fixing every miss of the reference probe on
    the class's test samples, same bootstrap resamples) could not get a lower bound above
    ``min_gain`` (the class is already recognised, e.g. real-only recall 1.00 in the folds), the class
    is INCOMPUTABLE with that reason instead of failing for a gain no data could show; a harmed other
    class still fails it.  ``details.best_possible_gain_ci_lower`` is that bound.

    Parameters: ``probe`` None (StandardScaler + LogisticRegression(C, max_iter), the scaler fitted on
    each training part) or a callable returning an unfitted estimator with fit/predict (Hydra:
    ``_partial_: true``) or an estimator to clone; ``n_bootstrap``; ``confidence`` (two-sided CI
    level, default 0.95); ``min_gain``; ``harm_tolerance``; ``score_scale``; ``min_test`` (fewest real
    samples of the class, default 2); ``reference`` ("real_only" or "oversampling", what the gain is
    measured against); ``C``, ``max_iter`` (default probe).
    """

    name = "utility"
    statistic_name = "recall_gain"
    reads = "folds"

    def __init__(self, probe: Callable[[], Any] | None = None, n_bootstrap: int = 1000, confidence: float = 0.95,
                 min_gain: float = 0.0, harm_tolerance: float = 0.05, score_scale: float = 0.1, min_test: int = 2,
                 reference: str = "real_only", C: float = 1.0, max_iter: int = 5000):
        _check_spec(probe, "probe", [])
        if reference not in ("real_only", "oversampling"):
            raise ConfigError(f"reference: 'real_only' or 'oversampling', got {reference!r}")
        self.probe = probe
        self.reference = reference
        self.n_bootstrap = int(n_bootstrap)
        self.confidence = float(confidence)
        self.min_gain = float(min_gain)
        self.harm_tolerance = float(harm_tolerance)
        self.score_scale = float(score_scale)
        self.min_test = int(min_test)
        self.C = float(C)
        self.max_iter = int(max_iter)
        if self.n_bootstrap < 1:
            raise ConfigError(f"n_bootstrap: need at least 1, got {n_bootstrap}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"confidence: must be in (0, 1), got {confidence}")
        if self.score_scale <= 0:
            raise ConfigError(f"score_scale: must be positive, got {score_scale}")

    def validate(self, real, synthetic, feature_names, seed: int = 0) -> ValidationResult:
        """Without folds there is no honest reference: every class is incomputable."""
        return _no_folds(self.name, self.statistic_name, synthetic, real)

    def _fit_predict(self, X, y, Xte, seed):
        if self.probe is None:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            est = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))
        else:
            est = _estimator(self.probe, seed, "probe")
        return np.asarray(est.fit(X, y).predict(Xte))

    def _boot(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx = rng.integers(len(d), size=(self.n_bootstrap, len(d)))
        return d[idx].mean(axis=1)

    def _ci(self, boot: np.ndarray) -> list[float]:
        a = (1.0 - self.confidence) / 2
        return [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))]

    def validate_folds(self, folds: Sequence[Fold], seed: int = 0, labels: Sequence[str] | None = None) -> ValidationResult:
        """Judge every class with synthetic samples in any fold (or ``labels``)."""
        folds = list(folds)
        targets = list(labels) if labels is not None else sorted(set().union(*(set(f.synthetic) for f in folds))) if folds else []
        per: dict[str, ClassResult] = {}
        bad = "no folds given" if not folds else _check_folds(folds)
        all_labels = sorted(set().union(*(set(f.train) | set(f.test) for f in folds))) if folds else []
        n_real = {c: (len(folds[0].train.get(c, ())) + len(folds[0].test.get(c, ()))) if folds else 0 for c in targets}
        n_syn = {c: sum(len(f.synthetic.get(c, ())) for f in folds) for c in targets}
        todo = []
        for c in targets:
            why = None
            if bad:
                why = bad
            elif c not in all_labels:
                why = "no real samples of this class in the folds"
            elif n_real[c] < self.min_test:
                why = f"{n_real[c]} real sample(s) to test on, need at least {self.min_test}"
            elif len(all_labels) < 2:
                why = "needs at least 2 real classes"
            else:
                empty = [(f.repeat, f.fold) for f in folds if len(f.synthetic.get(c, ())) == 0]
                if empty:
                    why = f"no synthetic samples in fold(s) (repeat, fold) {empty[:5]}: folds are missing"
            if why:
                per[c] = ClassResult(c, INCOMPUTABLE, n_real=n_real[c], n_synthetic=n_syn[c], reason=f"class '{c}': {why}")
            else:
                todo.append(c)
        if todo:
            per.update(self._run(folds, all_labels, todo, n_real, n_syn, seed))
        return ValidationResult(self.name, self.statistic_name, {c: per[c] for c in targets})

    def _run(self, folds, labels, todo, n_real, n_syn, seed):
        idx = {c: i for i, c in enumerate(labels)}
        reps = sorted({f.repeat for f in folds})
        k = max(sum(1 for f in folds if f.repeat == r) for r in reps)
        # per repeat: pooled test labels, test rows, predictions of A and of B_c, O_c per filled class
        pooled = []
        for r in reps:
            yt, rows, pa = [], [], []
            pb = {c: [] for c in todo}
            po = {c: [] for c in todo}
            for f in sorted((f for f in folds if f.repeat == r), key=lambda f: f.fold):
                Xtr, ytr = _stack(f.train, labels)
                Xte, yte = _stack(f.test, labels)
                if not len(Xte):
                    continue
                fs = derived_seed(seed, self.name, r, f.fold)
                yt.append(yte)
                rows.append(Xte)
                pa.append(self._fit_predict(Xtr, ytr, Xte, fs))
                for c in todo:
                    S = np.asarray(f.synthetic[c], np.float64).reshape(len(f.synthetic[c]), -1)
                    ci = idx[c]
                    pb[c].append(self._fit_predict(np.vstack([Xtr, S]), np.r_[ytr, np.full(len(S), ci)], Xte, fs))
                    own = np.flatnonzero(ytr == ci)
                    rng = np.random.default_rng(derived_seed(seed, self.name, c, "oversample", r, f.fold))
                    dup = own[rng.integers(len(own), size=len(S))] if len(own) else np.zeros(0, dtype=int)
                    po[c].append(self._fit_predict(np.vstack([Xtr, Xtr[dup]]), np.r_[ytr, ytr[dup]], Xte, fs))
            pooled.append((np.concatenate(yt), np.vstack(rows), np.concatenate(pa),
                           {c: np.concatenate(v) for c, v in pb.items()}, {c: np.concatenate(v) for c, v in po.items()}))
        return {c: self._judge(c, idx, labels, pooled, reps, k, n_real[c], n_syn[c], seed) for c in todo}

    def _judge(self, c, idx, labels, pooled, reps, k, n_real, n_syn, seed) -> ClassResult:
        ci = idx[c]
        A, B, O = [], [], []  # (R, n_c) per-item correctness, items in canonical order
        f1_a, f1_b, harm = [], [], defaultdict(list)
        for yt, rows, pa, pb, po in pooled:
            m = yt == ci
            order = _canonical_order(rows[m])
            A.append((pa[m] == ci)[order])
            B.append((pb[c][m] == ci)[order])
            O.append((po[c][m] == ci)[order])
            f1_a.append(_f1(yt, pa, ci))
            f1_b.append(_f1(yt, pb[c], ci))
            for o in labels:
                mo = yt == idx[o]
                if o != c and mo.any():
                    harm[o].append(float(np.mean(pb[c][mo] == idx[o]) - np.mean(pa[mo] == idx[o])))
        A, B, O = (np.asarray(v, np.float64) for v in (A, B, O))
        d, dvo = (B - A).mean(axis=0), (B - O).mean(axis=0)
        rng = np.random.default_rng(derived_seed(seed, self.name, c, "bootstrap"))
        ii = rng.integers(len(d), size=(self.n_bootstrap, len(d)))
        boot, boot_vo = d[ii].mean(axis=1), dvo[ii].mean(axis=1)
        gain, ci_gain = float(d.mean()), self._ci(boot)
        ci_vo = self._ci(boot_vo)
        ref = A if self.reference == "real_only" else O
        judged, judged_boot = (gain, boot) if self.reference == "real_only" else (float(dvo.mean()), boot_vo)
        lower = ci_gain[0] if self.reference == "real_only" else ci_vo[0]
        p = (1 + int(np.sum(judged_boot <= self.min_gain))) / (1 + self.n_bootstrap)
        # power: the interval even a perfect generator (one that fixes every miss of the reference probe)
        # would get on these test samples, with the same resamples; when it cannot clear min_gain, no
        # data could show a gain here (the class is already recognised), so utility cannot judge it
        best = (1.0 - ref).mean(axis=0)
        best_lower = self._ci(best[ii].mean(axis=1))[0]
        per_rep = []
        for r, (a, b) in enumerate(zip(ref, B)):
            rr = np.random.default_rng(derived_seed(seed, self.name, c, "stability", reps[r]))
            per_rep.append(self._ci(self._boot(b - a, rr))[0])
        harm_mean = {o: float(np.mean(v)) for o, v in harm.items()}
        worst_cls = min(harm_mean, key=lambda o: (harm_mean[o], o)) if harm_mean else None
        worst_drop = -harm_mean[worst_cls] if worst_cls is not None else 0.0
        gain_ok = lower > self.min_gain
        harm_ok = worst_drop <= self.harm_tolerance
        passed = bool(gain_ok and harm_ok)
        margin = min(lower - self.min_gain, self.harm_tolerance - worst_drop)
        score = float(0.5 + 0.5 * np.tanh(margin / self.score_scale))
        if not passed:
            score = min(score, 0.5 - 1e-9)
        reasons = []
        if not gain_ok:
            what = "recall gain" if self.reference == "real_only" else "recall gain over oversampling"
            reasons.append(f"{what} CI lower bound {lower:+.3f} <= min_gain {self.min_gain:+.3f}")
        if not harm_ok:
            reasons.append(f"recall of '{worst_cls}' drops by {worst_drop:.3f} > harm_tolerance {self.harm_tolerance:.3f}")
        details = {
            "recall_real_only": float(A.mean()), "recall_with_synthetic": float(B.mean()), "recall_oversampled": float(O.mean()),
            "gain": gain, "gain_ci": ci_gain, "confidence": self.confidence,
            "gain_vs_oversampling": float(dvo.mean()), "gain_vs_oversampling_ci": ci_vo, "judged_against": self.reference,
            "oversampling_gain": float((O - A).mean()),
            "f1_real_only": float(np.mean(f1_a)), "f1_with_synthetic": float(np.mean(f1_b)),
            "f1_gain": float(np.mean(f1_b) - np.mean(f1_a)),
            "harm": harm_mean, "worst_harm_class": worst_cls, "worst_harm": float(worst_drop),
            "harm_tolerance": self.harm_tolerance,
            # the repeats whose own gain interval agrees with the gain judgement (as every validator's stability)
            "stability": float(np.mean([(lo > self.min_gain) == gain_ok for lo in per_rep])),
            "gain_per_repeat": [float(v) for v in (B - A).mean(axis=1)], "gain_ci_lower_per_repeat": per_rep,
            "repeats": len(reps), "k": int(k), "n_test": int(len(d)), "n_bootstrap": self.n_bootstrap,
            "probe": "StandardScaler + LogisticRegression" if self.probe is None else getattr(self.probe, "__name__", repr(self.probe)),
            "reference": "held-out real samples (cross-fitted: synthetic for fold k made from parents outside fold k)",
            "worst_feature": None if passed else ("recall_gain" if not gain_ok else f"harm:{worst_cls}"),
        }
        details["best_possible_gain_ci_lower"] = float(best_lower)
        if reasons:
            details["why"] = "; ".join(reasons)
        baseline = {"recall_real_only": float(A.mean()), "oversampling_gain": float((O - A).mean())}
        if best_lower <= self.min_gain and harm_ok:
            what = "real-only" if self.reference == "real_only" else "oversampled"
            why = (f"class '{c}': no room to show a gain: the {what} probe's recall on the class's held-out real "
                   f"samples is already {ref.mean():.2f}, so even data fixing every miss would have a gain interval "
                   f"starting at {best_lower:+.3f} <= min_gain {self.min_gain:+.3f} (no other class harmed: worst drop "
                   f"{worst_drop:.3f} <= {self.harm_tolerance:.3f})")
            details["why"] = why
            return ClassResult(c, INCOMPUTABLE, statistic=judged, p_value=float(p), threshold=self.min_gain,
                               n_real=int(n_real), n_synthetic=int(n_syn), baseline=baseline, details=details, reason=why)
        return ClassResult(c, PASS if passed else FAIL, statistic=judged, score=score, p_value=float(p), threshold=self.min_gain,
                           n_real=int(n_real), n_synthetic=int(n_syn), baseline=baseline, details=details)


# --- label agreement, cross-fitted -----------------------------------------------------------------

class CrossFitLabelValidator:
    """Label agreement without circularity.

    For each fold a classifier is fitted on the fold's TEST real samples of every class (never parents
    of this fold's synthetic samples) and labels the fold's synthetic samples of each filled class:
    agreement = share predicted as their label.  Baseline, real-vs-real: the same classifier's
    accuracy on the fold's TRAIN real samples of the class (also unseen by it), subsampled (seeded) to
    the synthetic count when there are more.  Both are pooled over folds and repeats.

    Calibration (as in :mod:`synthgen.validators.labels`): the real accuracy is drawn from its Jeffreys
    posterior Beta(k + 1/2, n - k + 1/2), with n = the number of distinct real samples of the class
    (pooling repeats does not add information) and k = n x the pooled real accuracy, then a binomial
    draw at the synthetic count; the class passes when the synthetic agreement >= the lower
    (1 - ``quantile``) quantile of that distribution (moved by ``tolerance`` as in
    :func:`~synthgen.validators.distribution.calibrate`); score 0.5 at that threshold.  A percentile
    bootstrap CI of the synthetic agreement (over synthetic samples) is reported as evidence.

    Parameters: ``classifier`` "logistic" (default: StandardScaler + class-balanced
    LogisticRegression(``C``); a fold's held-out part holds only n/K samples of a rare class, and the
    balanced weights keep the larger classes from swallowing it), "knn" (k-nearest neighbours on
    standardised features, ``n_neighbors``, default 1), or a callable returning an unfitted estimator
    with fit/predict (Hydra ``_partial_: true``; used as is, no scaling added).  ``n_bootstrap``,
    ``quantile``, ``tolerance``; ``min_real`` (distinct real samples of the class, default 5),
    ``min_synthetic`` (5), ``one_vs_rest`` (False: one multi-class classifier; True: per class a
    balanced "c or not c" classifier, which needs far fewer samples with dozens of classes, as in
    text categories), ``min_real_accuracy`` (0.3, three times chance for 10 classes: below it the
    held-out classifier cannot recognise the class, the threshold would sit near zero, and the class
    is incomputable); ``max_iter``.
    """

    name = "label_agreement_cf"
    statistic_name = "agreement"
    reads = "folds"

    def __init__(self, classifier: str | Callable[[], Any] = "logistic", n_neighbors: int = 1, C: float = 1.0,
                 n_bootstrap: int = 1000, quantile: float = 0.95, tolerance: float = 1.0, min_real: int = 5,
                 min_synthetic: int = 5, min_real_accuracy: float = 0.3, max_iter: int = 5000, one_vs_rest: bool = False):
        _check_spec(classifier, "classifier", ["knn", "logistic"])
        self.one_vs_rest = bool(one_vs_rest)
        if classifier is None:
            classifier = "logistic"
        self.classifier = classifier
        self.n_neighbors = int(n_neighbors)
        self.C = float(C)
        self.n_bootstrap = int(n_bootstrap)
        self.quantile = float(quantile)
        self.tolerance = float(tolerance)
        self.min_real = int(min_real)
        self.min_synthetic = int(min_synthetic)
        self.min_real_accuracy = float(min_real_accuracy)
        self.max_iter = int(max_iter)
        if self.n_bootstrap < 1:
            raise ConfigError(f"n_bootstrap: need at least 1, got {n_bootstrap}")

    def validate(self, real, synthetic, feature_names, seed: int = 0) -> ValidationResult:
        """Without folds there is no honest reference: every class is incomputable."""
        return _no_folds(self.name, self.statistic_name, synthetic, real)

    def _make(self, n_train: int, seed: int):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.classifier == "knn":
            from sklearn.neighbors import KNeighborsClassifier

            return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=max(1, min(self.n_neighbors, n_train))))
        if self.classifier == "logistic":
            from sklearn.linear_model import LogisticRegression

            return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter))
        return _estimator(self.classifier, seed, "classifier")

    def _describe(self) -> str:
        if self.one_vs_rest:
            return f"one-vs-rest {self.classifier if isinstance(self.classifier, str) else 'custom'} classifier per class, fitted on each fold's held-out real samples"
        if self.classifier == "knn":
            return f"{self.n_neighbors}-NN on standardised features, fitted on each fold's held-out real samples"
        if self.classifier == "logistic":
            return "class-balanced logistic regression on standardised features, fitted on each fold's held-out real samples"
        return f"{getattr(self.classifier, '__name__', repr(self.classifier))}, fitted on each fold's held-out real samples"

    def validate_folds(self, folds: Sequence[Fold], seed: int = 0, labels: Sequence[str] | None = None) -> ValidationResult:
        folds = list(folds)
        targets = list(labels) if labels is not None else sorted(set().union(*(set(f.synthetic) for f in folds))) if folds else []
        bad = "no folds given" if not folds else _check_folds(folds)
        all_labels = sorted(set().union(*(set(f.train) | set(f.test) for f in folds))) if folds else []
        idx = {c: i for i, c in enumerate(all_labels)}
        n_real = {c: (len(folds[0].train.get(c, ())) + len(folds[0].test.get(c, ()))) if folds else 0 for c in targets}
        syn_ok = {c: [] for c in targets}
        real_ok = {c: [] for c in targets}
        pred_as = {c: defaultdict(int) for c in targets}
        used = {c: 0 for c in targets}
        if not bad:
            for f in sorted(folds, key=lambda f: (f.repeat, f.fold)):
                Xte, yte = _stack(f.test, all_labels)
                if len(np.unique(yte)) < 2:
                    continue
                clf = None
                for c in targets:
                    S = f.synthetic.get(c)
                    tr = f.train.get(c)
                    # the classifier must know the class: skip folds whose held-out part has none of it
                    if c not in idx or S is None or not len(S) or not len(f.test.get(c, ())) or tr is None or not len(tr):
                        continue
                    if self.one_vs_rest:  # "is this a c?": one balanced binary classifier per class
                        model = self._make(len(Xte), derived_seed(seed, self.name, c, f.repeat, f.fold)).fit(Xte, (yte == idx[c]).astype(int))
                        want = 1
                    else:
                        if clf is None:
                            clf = self._make(len(Xte), derived_seed(seed, self.name, f.repeat, f.fold)).fit(Xte, yte)
                        model, want = clf, idx[c]
                    S = np.asarray(S, np.float64).reshape(len(S), -1)
                    tr = np.asarray(tr, np.float64).reshape(len(tr), -1)
                    if len(S) < len(tr):
                        rng = np.random.default_rng(derived_seed(seed, self.name, c, "subsample", f.repeat, f.fold))
                        tr = tr[np.sort(rng.choice(len(tr), size=len(S), replace=False))]
                    ps = np.asarray(model.predict(S))
                    syn_ok[c].append(ps == want)
                    real_ok[c].append(np.asarray(model.predict(tr)) == want)
                    for j in ps[ps != want]:
                        pred_as[c]["(not this class)" if self.one_vs_rest else all_labels[int(j)]] += 1
                    used[c] += 1
        per = {}
        for c in targets:
            ys = np.concatenate(syn_ok[c]) if syn_ok[c] else np.zeros(0, bool)
            yr = np.concatenate(real_ok[c]) if real_ok[c] else np.zeros(0, bool)
            n_syn_total = sum(len(f.synthetic.get(c, ())) for f in folds)
            why = None
            if bad:
                why = bad
            elif len(all_labels) < 2:
                why = "needs at least 2 real classes"
            elif n_real[c] < self.min_real:
                why = f"{n_real[c]} real samples, need at least {self.min_real}"
            elif used[c] == 0:
                why = "no fold holds held-out real samples of the class together with synthetic samples"
            elif len(ys) < self.min_synthetic:
                why = f"{len(ys)} synthetic samples judged, need at least {self.min_synthetic}"
            if why:
                per[c] = ClassResult(c, INCOMPUTABLE, n_real=n_real[c], n_synthetic=n_syn_total, reason=f"class '{c}': {why}")
                continue
            real_acc = float(yr.mean())
            if real_acc < self.min_real_accuracy:
                per[c] = ClassResult(c, INCOMPUTABLE, n_real=n_real[c], n_synthetic=n_syn_total,
                                     baseline={"real_accuracy": real_acc},
                                     reason=f"class '{c}': the held-out classifier recognises only {real_acc:.0%} of real '{c}' "
                                            f"samples (< {self.min_real_accuracy:.0%}); these features cannot judge labels")
                continue
            rng = np.random.default_rng(derived_seed(seed, self.name, c, "bootstrap"))
            n_eff = n_real[c]
            p = rng.beta(real_acc * n_eff + 0.5, (1 - real_acc) * n_eff + 0.5, self.n_bootstrap)
            base = rng.binomial(len(ys), p) / len(ys)
            rate = float(ys.mean())
            boot_s = ys.astype(float)[rng.integers(len(ys), size=(self.n_bootstrap, len(ys)))].mean(axis=1)
            cal = calibrate(np.array([rate]), base, self.quantile, self.tolerance, higher_is_better=True)
            a = (1 - self.quantile)
            per[c] = ClassResult(
                c, PASS if cal["passed"] else FAIL, statistic=rate, score=cal["score"], threshold=cal["threshold"],
                n_real=n_real[c], n_synthetic=n_syn_total,
                baseline={**cal["baseline"], "real_accuracy": real_acc, "real_judged": int(len(yr))},
                details={"agreement": rate, "agreement_ci": [float(np.quantile(boot_s, a / 2)), float(np.quantile(boot_s, 1 - a / 2))],
                         # the bootstrap resamples of the judged samples whose agreement gets the same verdict
                         "stability": round(float(np.mean((boot_s >= cal["threshold"]) == cal["passed"])), 6),
                         "statistic_interval": [float(np.quantile(boot_s, a / 2)), float(np.quantile(boot_s, 1 - a / 2))],
                         "real_accuracy": real_acc, "predicted_as": dict(sorted(pred_as[c].items())),
                         "synthetic_judged": int(len(ys)), "real_judged": int(len(yr)), "folds_used": used[c],
                         "repeats": len({f.repeat for f in folds}), "classifier": self._describe(),
                         "reference": "classifier fitted on each fold's held-out real samples; baseline = the same "
                                      "classifier on the fold's other real samples of the class",
                         "worst_feature": None if cal["passed"] else "agreement"})
        return ValidationResult(self.name, self.statistic_name, per)
