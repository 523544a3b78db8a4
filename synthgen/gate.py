"""The gate: validator results -> per-class verdicts PASS / WARN / FAIL / INCOMPUTABLE, sample-level
filtering, and the exit code for CI.

Rules come from the ``gate`` config (``conf/gate/default.yaml``); see docs/validation.md.

* Each validator judges a class against its own calibrated threshold (score >= 0.5 = as close to the
  real data as real halves are to each other).  A rule may replace that by ``fail_below: <score>``
  and add ``warn_below: <score>``; ``severity: warn`` turns the validator's failures into warnings,
  ``severity: off`` ignores it.  Rules are set under ``default``, per validator under
  ``validators.<name>`` and per class under ``classes.<label>.<name>`` (most specific wins).
* A class FAILs when any validator fails it; else it is INCOMPUTABLE when a validator could not
  compute (``incomputable: warn | fail | ignore`` changes that); else WARN when a validator warns;
  else PASS.  ``merge`` admits only PASS classes: WARN does not merge unless the merge is forced
  (``merge.force=true merge.reason=...``), which records who forced it and why.
* Filter mode (``filter.enabled``) drops individual synthetic samples outside the real support before
  validation: far from every real neighbour, inside no real sample's k-NN ball (zero density), or
  (``drop_copies``) an exact copy of a real sample.  Every drop is recorded with its reasons.
* Exit codes (with ``ci: true``): 0 every class PASS (or WARN), 3 a class FAILed, 4 no failure but a
  class is INCOMPUTABLE, 5 only WARN and ``warn_is_failure: true``; 2 is bad input, 1 a crash.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

VERDICTS = ("pass", "warn", "fail", "incomputable")
EXIT_CODES = {"pass": 0, "warn": 5, "fail": 3, "incomputable": 4}
_RULE_KEYS = {"severity", "fail_below", "warn_below", "incomputable"}
_TOP_KEYS = {"default", "validators", "classes", "incomputable", "ci", "warn_is_failure", "filter", "admit_warn"}
_FILTER_KEYS = {"enabled", "features", "k", "far_quantile", "far_slack", "min_density", "drop_copies", "max_dim", "max_drop_share"}


@dataclass(frozen=True)
class Rule:
    severity: str = "fail"  # fail | warn | off
    fail_below: float | None = None  # None: the validator's own calibrated threshold
    warn_below: float | None = None
    incomputable: str | None = None  # how this validator's "cannot compute" counts (None: gate.incomputable)

    @staticmethod
    def parse(d: dict[str, Any], key: str, base: "Rule | None" = None) -> "Rule":
        if d is None:
            return base or Rule()
        if not isinstance(d, dict):
            raise ConfigError(f"{key}: must be a mapping of {', '.join(sorted(_RULE_KEYS))}")
        for k in d:
            if k not in _RULE_KEYS:
                raise ConfigError(f"{key}.{k}: unknown gate rule key (allowed: {', '.join(sorted(_RULE_KEYS))})")
        base = base or Rule()
        sev = str(d.get("severity", base.severity))
        if sev not in ("fail", "warn", "off"):
            raise ConfigError(f"{key}.severity: must be fail, warn or off, got {sev!r}")
        vals = {}
        for k in ("fail_below", "warn_below"):
            v = d.get(k, getattr(base, k))
            if v is not None:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise ConfigError(f"{key}.{k}: must be a score in [0, 1], got {v!r}") from None
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"{key}.{k}: must be a score in [0, 1], got {v}")
            vals[k] = v
        inc = d.get("incomputable", base.incomputable)
        if inc is not None and inc not in ("incomputable", "warn", "fail", "ignore"):
            raise ConfigError(f"{key}.incomputable: must be incomputable, warn, fail or ignore, got {inc!r}")
        return Rule(sev, vals["fail_below"], vals["warn_below"], inc)


class GatePolicy:
    """Parsed ``gate`` config.  Errors name the key at fault."""

    def __init__(self, cfg: Any = None):
        from .config import plain

        c = plain(cfg) or {}
        if not isinstance(c, dict):
            raise ConfigError("gate: must be a mapping")
        for k in c:
            if k not in _TOP_KEYS:
                raise ConfigError(f"gate.{k}: unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
        self.default = Rule.parse(c.get("default"), "gate.default")
        self.validators = {str(k): Rule.parse(v, f"gate.validators.{k}", self.default) for k, v in (c.get("validators") or {}).items()}
        self.classes: dict[str, dict[str, Rule]] = {}
        for label, rules in (c.get("classes") or {}).items():
            if not isinstance(rules, dict):
                raise ConfigError(f"gate.classes.{label}: must map validator names to rules")
            self.classes[str(label)] = {str(v): Rule.parse(r, f"gate.classes.{label}.{v}", self.validators.get(str(v), self.default))
                                        for v, r in rules.items()}
        inc = str(c.get("incomputable", "incomputable"))
        if inc not in ("incomputable", "warn", "fail", "ignore"):
            raise ConfigError(f"gate.incomputable: must be incomputable, warn, fail or ignore, got {inc!r}")
        self.incomputable = inc
        self.ci = bool(c.get("ci", False))
        self.admit_warn = bool(c.get("admit_warn", False))
        self.warn_is_failure = bool(c.get("warn_is_failure", False))
        f = c.get("filter") or {}
        for k in f:
            if k not in _FILTER_KEYS:
                raise ConfigError(f"gate.filter.{k}: unknown key (allowed: {', '.join(sorted(_FILTER_KEYS))})")
        self.filter = {"enabled": bool(f.get("enabled", False)), "features": f.get("features"), "k": int(f.get("k", 5)),
                       "far_quantile": float(f.get("far_quantile", 0.99)), "far_slack": float(f.get("far_slack", 1.0)),
                       "min_density": float(f.get("min_density", 0.0)), "drop_copies": bool(f.get("drop_copies", True)),
                       "max_dim": f.get("max_dim", 64), "max_drop_share": float(f.get("max_drop_share", 0.2))}
        if not 0.0 < self.filter["far_quantile"] <= 1.0:
            raise ConfigError(f"gate.filter.far_quantile: must be in (0, 1], got {self.filter['far_quantile']}")
        if self.filter["k"] < 1:
            raise ConfigError(f"gate.filter.k: must be >= 1, got {self.filter['k']}")

    def rule(self, validator: str, label: str) -> Rule:
        return self.classes.get(label, {}).get(validator) or self.validators.get(validator) or self.default

    def to_dict(self) -> dict[str, Any]:
        r = lambda x: {"severity": x.severity, "fail_below": x.fail_below, "warn_below": x.warn_below,  # noqa: E731
                       "incomputable": x.incomputable}
        return {"default": r(self.default), "validators": {k: r(v) for k, v in self.validators.items()},
                "classes": {c: {k: r(v) for k, v in d.items()} for c, d in self.classes.items()},
                "incomputable": self.incomputable, "ci": self.ci, "warn_is_failure": self.warn_is_failure,
                "admit_warn": self.admit_warn,
                "filter": dict(self.filter)}


def outcome(cr: Any, rule: Rule, incomputable: str = "incomputable") -> str:
    """One validator's effect on one class: pass | warn | fail | incomputable | ignored."""
    if rule.severity == "off":
        return "ignored"
    if cr.status == "incomputable":  # evidence-only (warn) checks that cannot compute do not block a class
        how = rule.incomputable or incomputable
        return "ignored" if how == "ignore" or rule.severity == "warn" else how
    s = cr.score
    failing = (not cr.passed) if rule.fail_below is None or s is None else s < rule.fail_below
    if failing:
        return "fail" if rule.severity == "fail" else "warn"
    if rule.warn_below is not None and s is not None and s < rule.warn_below:
        return "warn"
    return "pass"


def class_verdicts(results: dict[str, Any], labels: list[str], gate: Any = None) -> dict[str, dict[str, Any]]:
    """``{label: {"verdict", "validators", "failed_by", "warned_by", "reasons"}}``; ``gate`` is a
    :class:`GatePolicy`, a ``gate`` config mapping, or None (every validator at its own threshold)."""
    policy = gate if isinstance(gate, GatePolicy) else GatePolicy(gate)
    out = {}
    for label in labels:
        statuses, failed_by, warned_by, reasons = {}, [], [], []
        for name, res in results.items():
            cr = res.per_class.get(label)
            if cr is None:
                continue
            o = outcome(cr, policy.rule(name, label), policy.incomputable)
            statuses[name] = o
            worst = (cr.details or {}).get("worst_feature") if cr.status != "incomputable" else None
            tag = f"{name}" + (f" ({worst})" if worst else "")
            if o == "fail":
                failed_by.append(tag if cr.status != "incomputable" else f"{name} (incomputable)")
            elif o == "warn":
                warned_by.append(tag if cr.status != "incomputable" else f"{name} (incomputable)")
            if cr.status == "incomputable":
                reasons.append(f"{name}: {cr.reason}")
        counted = [o for o in statuses.values() if o != "ignored"]
        if failed_by:
            verdict = "fail"
        elif "incomputable" in counted or not counted:
            verdict = "incomputable"
            if not counted and not reasons:
                reasons.append("no validator judged this class")
        elif warned_by:
            verdict = "warn"
        else:
            verdict = "pass"
        admitted = verdict == "pass" or (verdict == "warn" and policy.admit_warn)
        out[label] = {"verdict": verdict, "validators": statuses, "failed_by": failed_by, "warned_by": warned_by,
                      "reasons": reasons, "admitted": admitted,
                      "explanation": explain(label, verdict, admitted, results, failed_by, warned_by, reasons)}
    return out


def _utility_sentence(cr: Any) -> str | None:
    d = cr.details or {}
    if cr.status == "incomputable" or "gain" not in d:
        return None
    lo, hi = (d.get("gain_ci") or [None, None])[:2]
    ci = f" (95% CI {lo:+.2f} to {hi:+.2f})" if lo is not None and hi is not None else ""
    over = d.get("gain_vs_oversampling")
    over_s = f", {over:+.2f} against plain oversampling" if over is not None else ""
    harm = d.get("worst_harm_class")
    harm_s = ""
    if harm is not None and (d.get("harm") or {}).get(harm) is not None:
        harm_s = f"; worst change for another class {d['harm'][harm]:+.2f} ({harm})"
    return f"held-out recall {d['gain']:+.2f}{ci}{over_s}{harm_s}"


def explain(label: str, verdict: str, admitted: bool, results: dict[str, Any], failed_by: list[str],
            warned_by: list[str], reasons: list[str]) -> str:
    """One sentence a reviewer can read: the verdict, what decided it, and the utility evidence."""
    util = next((_utility_sentence(r.per_class[label]) for n, r in results.items()
                 if getattr(r, "validator", n) == "utility" and label in r.per_class), None)
    if verdict == "fail":
        head = f"Refused: failed {', '.join(failed_by)}"
    elif verdict == "incomputable":
        head = "Not decided: " + (reasons[0] if reasons else "no check could compute")
    elif verdict == "warn":
        head = f"{'Admitted' if admitted else 'Held back'} with warnings from {', '.join(warned_by)}"
    else:
        head = "Admitted: every deciding check passed"
    return head + (f"; {util}" if util else "") + "."


def exit_code(verdicts: dict[str, dict[str, Any]] | dict[str, Any], policy: GatePolicy | None = None) -> int:
    """The CI exit code for a set of class verdicts (or a report): see the module docstring."""
    if "classes" in verdicts and isinstance(verdicts.get("classes"), dict):
        verdicts = verdicts["classes"]
    vs = {v["verdict"] for v in verdicts.values()}
    warn_fails = bool(policy and policy.warn_is_failure)
    if "fail" in vs:
        return EXIT_CODES["fail"]
    if "incomputable" in vs:
        return EXIT_CODES["incomputable"]
    if "warn" in vs and warn_fails:
        return EXIT_CODES["warn"]
    return 0


# --- sample-level filter -----------------------------------------------------------------------

def filter_samples(real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], samples: dict[str, list],
                   real_ids: dict[str, list[str]] | None, options: dict[str, Any],
                   real_hashes: dict[str, set[str]] | None = None) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Decide which synthetic samples lie outside the real class's support.

    Returns ``(keep, dropped)``: a boolean keep-mask per class and one record per dropped sample
    (id, label, reasons, nearest real id and distance, the thresholds used).  Classes with too few
    real samples (fewer than k + 2) are not filtered; that is noted in the records' stead.
    """
    from synthgen.validators.distribution import prepare
    from synthgen.validators.pairwise import pooled
    from synthgen.validators.stats import knn

    k = int(options.get("k", 5))
    keep, dropped = {}, []
    for label, y in synthetic.items():
        x = np.asarray(real.get(label, np.zeros((0, y.shape[1] if y.ndim == 2 else 0))), np.float64)
        y = np.asarray(y, np.float64)
        mask = np.ones(len(y), dtype=bool)
        reasons: list[list[str]] = [[] for _ in range(len(y))]
        extra: list[dict[str, Any]] = [{} for _ in range(len(y))]
        if options.get("drop_copies") and real_hashes is not None:
            from synthgen.validators.cache import content_hash

            rh = real_hashes.get(label, set())
            for i, s in enumerate(samples[label]):
                if content_hash(s) in rh:
                    reasons[i].append("exact copy of a real sample")
        if len(x) >= k + 2 and len(y):
            pool = pooled(x, y, options.get("max_dim", 64))  # the validators' shared distance matrix
            if pool is not None:
                ix, iy = np.arange(len(x)), len(x) + np.arange(len(y))
                rn = pool.knn(ix, ix, k, exclude_self=True)[0]
                r1, rk = rn[:, 0], rn[:, -1]
                d1, i1 = pool.knn(iy, ix, 1)
                dens = (pool.block(iy, ix) < rk[None, :]).sum(1) / k
            else:
                xs, ys = prepare(x, y, options.get("max_dim", 64))
                r1 = knn(xs, xs, 1, exclude_self=True)[0][:, 0]
                rk = knn(xs, xs, k, exclude_self=True)[0][:, -1]
                d1, i1 = knn(ys, xs, 1)
                dens = _density(ys, xs, rk) / k
            far = float(np.quantile(r1, options.get("far_quantile", 0.99)) * options.get("far_slack", 1.0))
            for i in range(len(y)):
                extra[i] = {"nearest_real": real_ids[label][int(i1[i, 0])] if real_ids else int(i1[i, 0]),
                            "nearest_distance": float(d1[i, 0]), "far_threshold": far, "density": float(dens[i])}
                if d1[i, 0] > far:
                    reasons[i].append(f"far from every real neighbour (nearest at {d1[i, 0]:.3g} > {far:.3g}, the real "
                                      f"{options.get('far_quantile', 0.99):g} quantile of nearest-neighbour distances)")
                if dens[i] <= options.get("min_density", 0.0):
                    reasons[i].append(f"low density ({dens[i]:.3g} <= {options.get('min_density', 0.0):g}: inside "
                                      f"{'no' if dens[i] == 0 else 'too few'} real {k}-NN balls)")
        for i, r in enumerate(reasons):
            if r:
                mask[i] = False
                dropped.append({"id": samples[label][i].id, "label": label, "reasons": r, **extra[i]})
        keep[label] = mask
    return keep, dropped


def _density(y: np.ndarray, x: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each row of y, how many real k-NN balls contain it (blocked: O(block * n) memory)."""
    x_sq = np.einsum("ij,ij->i", x, x)
    out = np.zeros(len(y))
    B = max(1, min(4096, (1 << 22) // max(1, len(x))))
    for s in range(0, len(y), B):
        blk = y[s:s + B]
        d = np.einsum("ij,ij->i", blk, blk)[:, None] + x_sq[None, :] - 2.0 * blk @ x.T
        out[s:s + B] = (np.sqrt(np.maximum(d, 0.0)) < radii[None, :]).sum(1)
    return out
