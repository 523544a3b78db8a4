"""Class-gap planning: real label counts plus a policy -> how many samples to generate per class.

Policy (``policy`` in config):
  target: ``max`` | ``median`` | an integer N: the per-class total (real + synthetic) to reach
  max_synthetic_fraction: the synthetic share of a class's total may not exceed this (0..1)
  classes: optional list of classes to fill; the others get 0
  min_real: classes with fewer real samples than this are reported and skipped (0 to allow all)

``target: model`` (model-guided targeting, :func:`model_guided`): the classes the uniform policy (at
``fill``) would fill share the same budget, weighted by the model's per-class error times the class
gap, with a floor; the parents the model misclassifies or classifies with a low margin are drawn more
often (:meth:`synthgen.generators.base.BaseGenerator.guide`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class PlanRow:
    label: str
    real: int
    target: int
    synthetic: int
    note: str = ""
    # model-guided plans only (policy.target=model): why the class got its budget
    error: float | None = None  # the model's error on the class (1 - recall)
    confused_with: str | None = None  # the class it is most often mistaken for
    confusion_share: float | None = None  # the share of its samples predicted as that class
    weight: float | None = None  # its share of the budget before caps


_GUIDED_FIELDS = ("error", "confused_with", "confusion_share", "weight")


@dataclass(frozen=True)
class Plan:
    rows: tuple[PlanRow, ...]
    policy: dict[str, Any]
    guidance: dict[str, Any] | None = None  # model-guided: errors' source, parent weights, confusions

    def counts(self) -> dict[str, int]:
        return {r.label: r.synthetic for r in self.rows}

    @property
    def total(self) -> int:
        return sum(r.synthetic for r in self.rows)

    @property
    def guided(self) -> bool:
        return self.guidance is not None

    def to_dict(self) -> dict[str, Any]:
        rows = [{k: v for k, v in asdict(r).items() if not (k in _GUIDED_FIELDS and v is None)} for r in self.rows]
        d = {"policy": self.policy, "rows": rows, "total": self.total}
        if self.guidance is not None:
            d["guidance"] = self.guidance
        return d

    def table(self) -> str:
        w = max([5] + [len(r.label) for r in self.rows])
        if self.guided:
            cw = max([13] + [len(r.confused_with or "") + 7 for r in self.rows])
            lines = [f"{'class':<{w}}  {'real':>6}  {'target':>6}  {'generate':>8}  {'error':>5}  {'confused with':<{cw}}  "
                     f"{'weight':>6}  note", "-" * (w + cw + 56)]
            for r in self.rows:
                err = f"{r.error:.2f}" if r.error is not None else "-"
                conf = f"{r.confused_with} ({r.confusion_share:.0%})" if r.confused_with else "-"
                wt = f"{r.weight:.2f}" if r.weight is not None else "-"
                lines.append(f"{r.label:<{w}}  {r.real:>6}  {r.target:>6}  {r.synthetic:>8}  {err:>5}  {conf:<{cw}}  {wt:>6}  {r.note}")
        else:
            lines = [f"{'class':<{w}}  {'real':>6}  {'target':>6}  {'generate':>8}  note", "-" * (w + 40)]
            for r in self.rows:
                lines.append(f"{r.label:<{w}}  {r.real:>6}  {r.target:>6}  {r.synthetic:>8}  {r.note}")
        lines.append(f"{'total':<{w}}  {sum(r.real for r in self.rows):>6}  {'':>6}  {self.total:>8}")
        if self.guided:
            g = self.guidance
            lines.append(f"model-guided: errors of {g['model']} from {g['source']}; budget {g['budget']} = "
                         f"{g['budget_from']}; weight = max(error, floor={g['floor']:g}) x gap")
            lines.append(f"parents: {g['boosted']} misclassified or low-margin parents drawn up to "
                         f"{1 + int(g['parent_boost'])}x as often")
        return "\n".join(lines)


def make_plan(
    counts: dict[str, int],
    target: Any = "max",
    max_synthetic_fraction: float = 0.9,
    classes: Iterable[str] | None = None,
    min_real: int = 1,
) -> Plan:
    """Compute the per-class number of synthetic samples.  Errors name the policy key at fault."""
    if not counts:
        raise ConfigError("policy: the dataset has no classes")
    for label, n in counts.items():
        if n == 0:
            raise ConfigError(f"dataset: class '{label}' has no real samples")
    f = float(max_synthetic_fraction)
    if not 0.0 <= f < 1.0:
        raise ConfigError(f"policy.max_synthetic_fraction: must be in [0, 1), got {max_synthetic_fraction}")
    if int(min_real) < 0:
        raise ConfigError(f"policy.min_real: must be >= 0, got {min_real}")
    values = np.array(list(counts.values()))
    if isinstance(target, str) and target in ("max", "median"):
        goal = int(values.max()) if target == "max" else int(math.ceil(float(np.median(values))))
    else:
        try:
            goal = int(target)
            if isinstance(target, float) and target != goal:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"policy.target: must be 'max', 'median' or a non-negative integer, got {target!r}") from None
        if goal < 0:
            raise ConfigError(f"policy.target: must be a non-negative count, got {goal}")
    selected = None
    if classes is not None:
        selected = [str(c) for c in classes]
        for c in selected:
            if c not in counts:
                raise ConfigError(f"policy.classes: class '{c}' is not in the dataset (classes: {', '.join(counts)})")
    rows = []
    for label, real in counts.items():
        note = ""
        if selected is not None and label not in selected:
            n = 0
            note = "not selected"
        elif real < int(min_real):
            n = 0
            note = f"fewer than min_real={min_real} real samples"
        else:
            n = max(0, goal - real)
            cap = int(math.floor(f * real / (1.0 - f) + 1e-9)) if f > 0 else 0
            if n > cap:
                n = cap
                note = f"capped by max_synthetic_fraction={f:g}"
        rows.append(PlanRow(label, int(real), int(goal), int(n), note))
    policy = {"target": target, "max_synthetic_fraction": f, "classes": selected, "min_real": int(min_real)}
    return Plan(tuple(rows), policy)


def shard_indices(n: int, shard: str | None) -> range:
    """The contiguous slice of ``range(n)`` that shard ``i/k`` owns (``None`` owns everything)."""
    if not shard:
        return range(n)
    try:
        i, k = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise ConfigError(f"shard: expected 'i/n' such as 0/4, got {shard!r}") from None
    if k <= 0 or not 0 <= i < k:
        raise ConfigError(f"shard: index must satisfy 0 <= i < n, got {shard!r}")
    return range(n * i // k, n * (i + 1) // k)


# --- model-guided targeting (policy.target=model) -----------------------------------------------

GUIDED_KEYS = ("model", "eval", "budget", "floor", "fill", "parent_boost", "low_margin", "folds", "features")
# a folder holding one of these is a synthgen run: pickles are never loaded from there
_RUN_MARKERS = ("loop.json", "report.json", ".synthetic.key", "plan.json")


@dataclass
class ModelErrors:
    """What a model gets wrong, per class and per real training sample."""

    source: str  # where the errors were measured, for the plan table
    recall: dict[str, float]  # per class with evaluation samples
    n_eval: dict[str, int]
    confusion: dict[str, dict[str, int]]  # true class -> predicted class -> count (errors only)
    margin: dict[str, float]  # training sample id -> margin (score of its class minus the best other)
    wrong: dict[str, bool]  # training sample id -> misclassified (out of fold)


def _default_featurizer(modality: str):
    if modality == "image":
        from synthgen.validators.features import ThumbnailFeaturizer

        return ThumbnailFeaturizer(size=8)
    if modality == "text":
        from synthgen.validators.text_features import TextFeaturizer

        return TextFeaturizer(lexical=True, embeddings=False, unigram_buckets=512)
    from synthgen.validators.points_features import PointsFeaturizer

    return PointsFeaturizer(seed=0)


def _utility_node(cfg: Any, key: str) -> Any:
    v = cfg.get("validation") if cfg is not None else None
    util = (v.get("validators") or {}).get("utility") if v is not None else None
    return util.get(key) if util is not None else None


def guide_featurizer(cfg: Any, modality: str):
    """The feature space the model reads: ``policy.features`` (a featurizer node), else the utility
    validator's feature space, else the modality's default (8x8 thumbnail, hashed words, shape)."""
    from .config import build

    node = (cfg.get("policy") or {}).get("features")
    if node is not None:
        return build(node, "policy.features")
    name = _utility_node(cfg, "features")
    feats = (cfg.get("validation") or {}).get("featurizers") or {}
    if name is not None and name in feats and feats[name].get("_target_"):
        return build(feats[name], f"validation.featurizers.{name}")
    return _default_featurizer(modality)


def default_probe(cfg: Any = None):
    """An unfitted probe: the utility validator's (``validation.validators.utility.probe``), else
    StandardScaler + LogisticRegression, the one the utility validator uses by default."""
    node = _utility_node(cfg, "probe")
    if node is not None:
        from .config import build

        return build(node, "validation.validators.utility.probe")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def load_pickle(path: Any, key: str = "policy.model", refuse_run_folder: bool = True):
    """A scikit-learn estimator from a pickle the user named (also ``evaluate``'s ``model.path``).
    Unpickling runs code, so synthgen only reads a path given in the config; for the model that plans
    generation, never one inside a run folder (which synthgen or anyone with write access to outputs/
    may have written)."""
    import pickle
    from pathlib import Path

    from .errors import DatasetError

    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise DatasetError(f"{p}: model file not found ({key})")
    for d in (p.resolve().parent, *p.resolve().parent.parents) if refuse_run_folder else ():
        if (d / ".hydra").is_dir() and any((d / m).exists() for m in _RUN_MARKERS):
            raise ConfigError(f"{key}: {p} lies inside the synthgen run folder {d}; pickles are loaded only from a "
                              f"path you keep yourself, never from a run folder")
    try:
        with open(p, "rb") as f:
            est = pickle.load(f)
    except Exception as e:
        raise DatasetError(f"{p}: cannot unpickle model ({type(e).__name__}) ({key})") from None
    if not hasattr(est, "predict"):
        raise ConfigError(f"{key}: {p} holds a {type(est).__name__}, not a classifier with predict()")
    return est


def load_model(cfg: Any) -> tuple[Any, str, bool]:
    """``policy.model`` -> (estimator, description, already fitted?).

    ``probe`` or null: the utility probe; a string or ``{path: ...}``: a scikit-learn pickle (used as
    fitted on an evaluation split, cloned for cross-fitting); ``{_target_: ...}``: an unfitted
    estimator with fit / predict (and predict_proba or decision_function for margins).  Every model
    reads the feature matrix of :func:`guide_featurizer`.
    """
    from .config import build, plain

    node = (cfg.get("policy") or {}).get("model")
    d = plain(node)
    if d is None or d == "probe":
        return default_probe(cfg), "the utility probe", False
    if isinstance(d, str):
        d = {"path": d}
    if not isinstance(d, dict):
        raise ConfigError(f"policy.model: 'probe', a pickle path or a mapping with _target_ or path, got {d!r}")
    if d.get("_target_") is None:
        if d.get("path") is None:
            raise ConfigError("policy.model: needs _target_ (an estimator) or path (a scikit-learn pickle)")
        return load_pickle(d["path"], "policy.model.path"), f"the pickle {d['path']}", True
    est = build(node, "policy.model")
    if not (hasattr(est, "fit") and hasattr(est, "predict")):
        raise ConfigError(f"policy.model._target_: {d['_target_']} built a {type(est).__name__}, which has no fit/predict")
    return est, str(d["_target_"]), False


def _fresh(est):
    try:
        from sklearn.base import clone

        return clone(est)
    except Exception:  # not a scikit-learn estimator: an independent copy
        import copy

        return copy.deepcopy(est)


def _scores(est, X: np.ndarray, classes: list[str]) -> np.ndarray | None:
    """(n, classes) scores in the dataset's class order (probabilities, or a softmax of decision
    scores); ``None`` when the model only predicts labels."""
    cols = getattr(est, "classes_", None)
    for meth in ("predict_proba", "decision_function"):
        f = getattr(est, meth, None)
        if f is None or cols is None:
            continue
        try:
            S = np.asarray(f(X), np.float64)
        except Exception:  # e.g. predict_proba of a model without probability estimates
            continue
        if S.ndim == 1:
            S = np.stack([-S, S], axis=1)
        if meth == "decision_function":
            S = np.exp(S - S.max(axis=1, keepdims=True))
            S /= S.sum(axis=1, keepdims=True)
        out = np.zeros((len(X), len(classes)))
        pos = {c: i for i, c in enumerate(classes)}
        for j, c in enumerate(cols):
            if str(c) in pos:
                out[:, pos[str(c)]] = S[:, j]
        return out
    return None


def _predict(est, X: np.ndarray, y: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and margins (score of the true class minus the best other; +-1 without scores)."""
    from .errors import ConfigError as _CE

    try:
        S = _scores(est, X, classes)
        if S is not None:
            idx = np.array([classes.index(c) for c in y]) if len(y) else np.zeros(0, int)
            pred = np.array(classes, dtype=object)[S.argmax(axis=1)] if len(S) else np.zeros(0, object)
            own = S[np.arange(len(S)), idx]
            other = S.copy()
            other[np.arange(len(S)), idx] = -np.inf
            return pred.astype(str), own - other.max(axis=1)
        pred = np.asarray([str(v) for v in est.predict(X)])
    except _CE:
        raise
    except Exception as e:  # the user's model: one line naming it
        raise _CE(f"policy.model: predicting failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return pred, np.where(pred == y, 1.0, -1.0)


def _fit(est, X, y):
    from .errors import ConfigError as _CE

    try:
        return est.fit(X, y) or est
    except Exception as e:
        raise _CE(f"policy.model: fitting failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def model_errors(train, featurizer, model, fitted: bool = False, eval_set=None, folds: int = 5, seed: int = 0,
                 extra: list | None = None) -> ModelErrors:
    """Per-class recall and confusions of ``model`` and the margin of every real training sample.

    With ``eval_set`` (real samples the model never trains on) the class errors come from it (a
    fitted pickle is used as it is, other models are fitted on ``train`` + ``extra``).  Without, and
    always for the margins, they are cross-fitted: ``folds`` stratified (group-aware) folds of the
    real training samples; the model is fitted without fold k (``extra`` synthetic samples whose
    parents lie in fold k are left out too) and predicts fold k.
    """
    from synthgen.validators.crossfit import make_folds

    classes = list(train.classes)
    samples = list(train.samples)
    X = np.asarray(featurizer.transform(samples), np.float64).reshape(len(samples), -1)
    y = np.array([s.label for s in samples], dtype=object).astype(str)
    extra = list(extra or [])
    Xe = np.asarray(featurizer.transform(extra), np.float64).reshape(len(extra), -1) if extra else np.zeros((0, X.shape[1]))
    ye = np.array([s.label for s in extra], dtype=object).astype(str)
    parents = [set(s.provenance.parents) if s.provenance is not None else set() for s in extra]
    by_class = {c: np.flatnonzero(y == c) for c in classes if np.any(y == c)}
    groups = None
    if any((s.meta or {}).get("group") is not None for s in samples):
        groups = {c: [(samples[i].meta or {}).get("group", samples[i].id) for i in idx] for c, idx in by_class.items()}
    pred = np.empty(len(samples), dtype=object)
    margin = np.zeros(len(samples))
    splits = make_folds({c: len(v) for c, v in by_class.items()}, int(folds), 1, int(seed), groups=groups)
    k = 1 + max(f for _, f, _, _ in splits)
    for _, _, tr, te in splits:
        tr_pos = np.sort(np.concatenate([by_class[c][i] for c, i in tr.items()]))
        te_pos = np.sort(np.concatenate([by_class[c][i] for c, i in te.items()]))
        held = {samples[i].id for i in te_pos}
        keep = [j for j, ps in enumerate(parents) if held.isdisjoint(ps)]
        est = _fit(_fresh(model), np.vstack([X[tr_pos], Xe[keep]]), np.r_[y[tr_pos], ye[keep]])
        p, m = _predict(est, X[te_pos], y[te_pos], classes)
        pred[te_pos], margin[te_pos] = p, m
    ids = [s.id for s in samples]
    if eval_set is None:
        ev_y, ev_pred = y, pred.astype(str)
        source = f"cross-fitted {k}-fold predictions on the training data (n={len(samples)})"
    else:
        ev = list(eval_set.samples)
        Xv = np.asarray(featurizer.transform(ev), np.float64).reshape(len(ev), -1)
        ev_y = np.array([s.label for s in ev], dtype=object).astype(str)
        est = model if fitted else _fit(_fresh(model), np.vstack([X, Xe]), np.r_[y, ye])
        ev_pred, _ = _predict(est, Xv, ev_y, classes)
        source = f"the evaluation split {eval_set.source} (n={len(ev)})"
    recall, n_eval, confusion = {}, {}, {}
    for c in classes:
        m = ev_y == c
        if not m.any():
            continue
        n_eval[c] = int(m.sum())
        recall[c] = float(np.mean(ev_pred[m] == c))
        conf: dict[str, int] = {}
        for q in ev_pred[m]:
            if q != c:
                conf[str(q)] = conf.get(str(q), 0) + 1
        confusion[c] = dict(sorted(conf.items(), key=lambda kv: (-kv[1], kv[0])))
    return ModelErrors(source, recall, n_eval, confusion,
                       {i: float(v) for i, v in zip(ids, margin)},
                       {i: bool(q != t) for i, q, t in zip(ids, pred, y)})


def _allocate(budget: int, weights: dict[str, float], caps: dict[str, int]) -> dict[str, int]:
    """Split ``budget`` in proportion to ``weights`` without passing any cap: water-filling (a capped
    class's excess goes to the others), then largest remainders for the integer counts."""
    out = {c: 0.0 for c in weights}
    active = {c for c, w in weights.items() if w > 0 and caps[c] > 0}
    left = float(min(budget, sum(caps[c] for c in active)))
    while active and left > 1e-9:
        tot = sum(weights[c] for c in active)
        share = {c: left * weights[c] / tot for c in active}
        over = {c for c in active if out[c] + share[c] >= caps[c] - 1e-9}
        if not over:
            for c in active:
                out[c] += share[c]
            break
        for c in over:
            left -= caps[c] - out[c]
            out[c] = float(caps[c])
        active -= over
    n = {c: min(caps[c], int(math.floor(v + 1e-9))) for c, v in out.items()}
    rest = int(round(sum(out.values()))) - sum(n.values())
    for c in sorted(out, key=lambda c: (-(out[c] - math.floor(out[c] + 1e-9)), c)):
        if rest <= 0:
            break
        if n[c] < caps[c]:
            n[c] += 1
            rest -= 1
    return n


def _num(p: dict, key: str, default: Any, lo: float, integer: bool = False) -> Any:
    v = p.get(key, default)
    if v is None:
        v = default
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v >= lo and (not integer or float(v) == int(v))
    if not ok:
        raise ConfigError(f"policy.{key}: must be {'an integer' if integer else 'a number'} >= {lo:g}, got {v!r}")
    return int(v) if integer else float(v)


def model_guided(uniform: Plan, cfg: Any, train, extra: list | None = None, model: Any = None,
                 errors: ModelErrors | None = None, budget: int | None = None, used: dict[str, int] | None = None) -> Plan:
    """Re-allocate a uniform plan's budget by what the model gets wrong.

    The classes ``uniform`` fills share ``policy.budget`` samples (default: the uniform total, so the
    two plans compare at the same count) in proportion to ``max(error, floor) x gap`` (error = 1 -
    recall, gap = (target - real) / target), water-filled under each class's max_synthetic_fraction
    cap.  Parents: a real sample of a filled class the model misclassifies (out of fold) appears
    ``1 + parent_boost`` times in the generator's parent pool, one with a margin below
    ``low_margin`` ``1 + ceil(parent_boost / 2)`` times.  ``model``: a ready (estimator, description,
    fitted) triple (the loop passes its refitted one); ``extra``: synthetic samples already merged
    (they train the model, never in the fold they were made from); ``budget`` overrides
    ``policy.budget`` and ``used`` (synthetic samples per class already merged) lowers the caps.
    """
    from dataclasses import replace

    from .pipeline import load_dataset

    p = (cfg.get("policy") or {})
    floor = _num(p, "floor", 0.05, 0.0)
    boost = _num(p, "parent_boost", 3, 0, integer=True)
    low = _num(p, "low_margin", 0.2, 0.0)
    folds = _num(p, "folds", 5, 2, integer=True)
    budget_v = p.get("budget") if budget is None else budget
    budget = uniform.total if budget_v is None else (int(budget) if budget is not None else _num(p, "budget", 0, 0, integer=True))
    if errors is None:
        est, what, fitted = model if model is not None else load_model(cfg)
        eval_set = None
        if p.get("eval") is not None:
            eval_set, _ = load_dataset(p.get("eval"), "policy.eval")
            unknown = sorted(set(eval_set.classes) - set(train.classes))
            if unknown:
                raise ConfigError(f"policy.eval: class '{unknown[0]}' is not in the training data")
        seed = int(cfg.get("seed", 0) or 0)
        errors = model_errors(train, guide_featurizer(cfg, train.modality), est, fitted, eval_set, folds, seed, extra)
        errors_model = what
    else:
        errors_model = "the model"
    filled = [r for r in uniform.rows if r.synthetic > 0]
    f = float(uniform.policy.get("max_synthetic_fraction", 0.9))
    caps = {r.label: max(0, (int(math.floor(f * r.real / (1.0 - f) + 1e-9)) if f > 0 else 0) - (used or {}).get(r.label, 0))
            for r in filled}
    err = {r.label: 1.0 - errors.recall[r.label] if r.label in errors.recall else None for r in filled}
    gap = {r.label: max(0.0, (r.target - r.real) / r.target) if r.target > 0 else 0.0 for r in filled}
    weights = {c: max(e if e is not None else floor, floor) * gap[c] for c, e in err.items()}
    if not any(w > 0 for w in weights.values()):
        weights = dict(gap)
    n = _allocate(budget, weights, caps)
    tot_w = sum(weights.values()) or 1.0
    rows = []
    for r in uniform.rows:
        if r.synthetic <= 0:
            rows.append(r)
            continue
        c = r.label
        conf = errors.confusion.get(c) or {}
        top = next(iter(conf), None)
        share = conf[top] / errors.n_eval[c] if top is not None else None
        note = "capped by max_synthetic_fraction" if n[c] >= caps[c] and caps[c] < budget else ""
        if err[c] is None:
            note = (note + "; " if note else "") + "no evaluation samples: floor error"
        rows.append(replace(r, synthetic=int(n[c]), note=note, error=None if err[c] is None else round(err[c], 4),
                            confused_with=top, confusion_share=None if share is None else round(share, 4),
                            weight=round(weights[c] / tot_w, 4)))
    pw: dict[str, int] = {}
    boosted = 0
    filled_labels = {r.label for r in filled}
    for s in train.samples:
        if s.label not in filled_labels:
            continue
        if errors.wrong.get(s.id):
            pw[s.id] = 1 + boost
        elif errors.margin.get(s.id, 1.0) < low:
            pw[s.id] = 1 + int(math.ceil(boost / 2))
        if pw.get(s.id, 1) > 1:
            boosted += 1
    guidance = {"model": errors_model, "source": errors.source, "budget": int(sum(n.values())),
                "budget_from": ("this round's share" if used is not None else "policy.budget") if budget_v is not None
                else f"the uniform plan's total ({uniform.total})",
                "floor": floor, "parent_boost": boost, "low_margin": low, "boosted": boosted,
                "parent_weights": dict(sorted(pw.items())),
                "confusions": {c: list(errors.confusion.get(c) or {})[:3] for c in sorted(filled_labels)},
                "recall": {c: round(v, 4) for c, v in sorted(errors.recall.items())}}
    policy = {**uniform.policy, "target": "model", "fill": p.get("fill", "max") or "max"}
    return Plan(tuple(rows), policy, guidance)
