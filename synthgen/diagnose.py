"""Error taxonomy: why a class did not pass, ranked, each cause with its evidence and a suggested fix.

:func:`diagnose_class` reads one class of a validation report (every validator's status, score and
details) and, when given, the class's real and synthetic feature matrices, and returns the causes
that the evidence supports, strongest first:

============================  ===========================================================================
``annotation_errors``         the schema check found invalid boxes, masks, spans or point labels
``memorisation``              near or exact copies of real samples (duplicates, DCR too close, authenticity)
``mode_collapse``             too little diversity: samples alike, few modes reached (diversity, recall,
                              coverage, duplicates inside the synthetic set, feature spread far below real)
``label_disagreement``        a classifier of the real classes labels the samples as another class
``off_support``               samples outside the real class (filter drops, DCR too far, precision, density)
``distribution_shift``        the features differ (KS, MMD, C2ST, ...): which features, in which direction
``attribute_bias``            generated attributes (size, position, entity types, range, ...) skewed beyond the real spread
``no_utility``                adding the samples does not raise the class's held-out recall, or hurts another
``too_little_real_data``      a check could not compute: too few real (or synthetic) samples for a verdict
``already_recognised``        utility has no room: the probe already recalls (nearly) every real sample of
                              the class, so no data could show a gain; the safety checks decide
============================  ===========================================================================

Ranking: causes backed by a validator that FAILed the class come before those backed only by
warnings; then by strength, how far below its threshold the supporting validator scored (``1 - score``,
scores are 0.5 at the threshold), weighted so that a specific cause outranks the generic "the features
differ", which every other cause also produces.  Deterministic: no randomness, ties broken by the table order.

:func:`diagnose_evaluation` does the same for ``synthgen evaluate``: errors grouped by corruption
family and severity, the corruptions that hurt most, a few misclassified corrupted examples, and the
classes that break first (lowest severity at which their error reaches ``break_error``).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

ORDER = ["annotation_errors", "memorisation", "mode_collapse", "label_disagreement", "off_support",
         "distribution_shift", "attribute_bias", "no_utility", "too_little_real_data", "already_recognised", "other"]
WEIGHT = {"annotation_errors": 1.0, "memorisation": 1.0, "mode_collapse": 1.0, "label_disagreement": 1.0,
          "off_support": 0.9, "distribution_shift": 0.75, "attribute_bias": 0.75, "no_utility": 0.7, "too_little_real_data": 0.6, "already_recognised": 0.55, "other": 0.5}
TITLE = {
    "annotation_errors": "annotation errors",
    "memorisation": "memorisation (copies of real samples)",
    "mode_collapse": "too little diversity (mode collapse)",
    "label_disagreement": "label disagreement",
    "off_support": "samples off the real support",
    "distribution_shift": "distribution shift",
    "attribute_bias": "skewed attributes (bias)",
    "no_utility": "no gain for a model trained with the samples",
    "too_little_real_data": "too little data for a verdict",
    "already_recognised": "nothing to gain: the probe already recognises the class",
    "other": "failed checks",
}
FIX = {
    "annotation_errors": "fix the generator's annotation transform (boxes/masks/spans must move with the data); "
                         "see the listed samples; enable gate.filter to drop them meanwhile",
    "memorisation": "raise the generator's variation (stronger augmentation, more noise / lower guidance, more parents per "
                    "sample) or drop copies (gate.filter.drop_copies=true)",
    "mode_collapse": "widen the generator's parameter ranges, fit it on more parents, or sample with more noise "
                     "(higher temperature / fewer guidance steps); check that the seed varies per sample",
    "label_disagreement": "the samples look like another class: check the generator's class mapping and parents, "
                          "or condition it more strongly on the label",
    "off_support": "narrow the generator's parameter ranges toward the real data, or turn on gate.filter to drop "
                   "the outliers",
    "distribution_shift": "move the named features toward the real data (the generator's parameters that set them)",
    "attribute_bias": "rebalance the generator's sampling of the named attributes toward the real shares",
    "no_utility": "the samples do not help a model: generate harder/more varied examples near the class boundary, "
                  "or fewer if another class is hurt",
    "too_little_real_data": "add real samples of the class (or lower the validators' minimum sizes knowingly); "
                            "the gate cannot judge it yet",
    "already_recognised": "nothing to fix in the generator: the class was judged on schema, copies and labels; to "
                          "show usefulness, judge with your own model (validation.validators.utility.probe) or "
                          "leave the class out (policy.rare_below, policy.classes)",
    "other": "see the failing validators' evidence",
}

DISTRIBUTION = {"ks", "mmd", "wasserstein", "energy", "frechet", "c2st", "categorical", "chamfer", "chamfer_set"}
DIVERSITY_METRICS = {"recall", "coverage", "beta_recall", "nn_spread", "cluster_reach", "internal", "cov_chamfer"}
SUPPORT_METRICS = {"precision", "density", "alpha_precision", "too_far"}
COPY_METRICS = {"near_copy", "too_close", "authenticity"}


def _bad(v: dict[str, Any]) -> bool:
    return (v.get("gate") or v.get("status")) in ("fail", "warn")


def _sev(v: dict[str, Any]) -> float:
    s = v.get("score")
    return float(np.clip(1.0 - s, 0.0, 1.0)) if s is not None else 0.5


def _failed_metrics(v: dict[str, Any]) -> list[str]:
    d = v.get("details") or {}
    mets = d.get("metrics")
    out = [k for k, m in mets.items() if isinstance(m, dict) and m.get("passed") is False] if isinstance(mets, dict) else []
    if not out and (d.get("metric") or d.get("worst_feature")):  # combined folds keep only the worst one
        out = [str(d.get("metric") or d["worst_feature"])]
    return out


def _kind(name: str, kinds: dict[str, str] | None) -> str:
    return str((kinds or {}).get(name) or name).lower()


def feature_shift(names: Sequence[str], real: np.ndarray, syn: np.ndarray, top: int = 3) -> dict[str, Any]:
    """The features that differ most between real and synthetic: a mean moved by at least 0.3 real
    standard deviations (``higher``/``lower``, ``shift_sd`` = synthetic minus real mean in real sds), or
    a spread changed by at least 1.5x (``narrower``/``wider``, ``spread_ratio`` = synthetic / real std);
    ranked by size (|shift_sd|, or |ln spread_ratio| / ln 1.5 x 0.3).  ``spread_ratio`` at the top level:
    the median over features, the sign of mode collapse when far below 1."""
    x, y = np.asarray(real, np.float64), np.asarray(syn, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) < 2 or len(y) < 2:
        return {"features": [], "spread_ratio": None}
    sx, sy = x.std(0), y.std(0)
    # a feature (almost) constant in the real class is measured against a floor of 5 % of the typical
    # feature spread, so a thumbnail pixel that is blank in every real sample cannot read "+4e8 sd"
    rms = float(np.sqrt(np.mean(sx ** 2))) if sx.size else 0.0
    floor = 0.05 * rms if rms > 0 else 1e-12
    pooled = np.sqrt(sx ** 2 + floor ** 2)
    d = (y.mean(0) - x.mean(0)) / pooled
    d = np.where((sx <= 1e-12) & (sy <= 1e-12) & (np.abs(y.mean(0) - x.mean(0)) <= 1e-12), 0.0, d)
    # a spread is judged only where the real feature varies: sd > 0 and a fifth of the values off the median
    live = (sx > 1e-12) & (np.mean(np.abs(x - np.median(x, axis=0)) > 1e-9 * (1 + np.abs(np.median(x, axis=0))), axis=0) >= 0.2)
    r = np.where(live, sy / np.where(live, sx, 1.0), 1.0)
    lr = np.log(np.maximum(r, 1e-6))
    size = np.maximum(np.abs(d), np.abs(lr) / np.log(1.5) * 0.3)
    feats = []
    for j in np.argsort(-size, kind="stable"):
        if len(feats) == top or size[j] < 0.3:
            break
        if abs(d[j]) >= 0.3 and abs(d[j]) >= np.abs(lr[j]) / np.log(1.5) * 0.3:
            direction = "higher" if d[j] > 0 else "lower"
        else:
            direction = "narrower" if lr[j] < 0 else "wider"
        feats.append({"feature": str(names[j]), "direction": direction, "shift_sd": round(float(d[j]), 3),
                      "spread_ratio": round(float(r[j]), 3), "real_mean": round(float(x[:, j].mean()), 6),
                      "synthetic_mean": round(float(y[:, j].mean()), 6)})
    ratio = float(np.median(sy[live] / sx[live])) if live.any() else None
    return {"features": feats, "spread_ratio": None if ratio is None else round(ratio, 4)}


VERB = {"higher": "lower {}", "lower": "raise {}", "narrower": "widen the spread of {}", "wider": "narrow the spread of {}"}


def _size(f: dict[str, Any]) -> float:
    return max(abs(f["shift_sd"]), abs(float(np.log(max(f.get("spread_ratio", 1.0), 1e-6)))) / np.log(1.5) * 0.3)


def _says(f: dict[str, Any]) -> str:
    if f["direction"] in ("higher", "lower"):
        return f"{f['feature']} {f['direction']} ({f['shift_sd']:+.1f} sd)"
    return f"{f['feature']} {f['direction']} ({f['spread_ratio']:.2f}x the real spread)"


def diagnose_class(c: dict[str, Any], shift: dict[str, dict[str, Any]] | None = None,
                   kinds: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Ranked causes for one class of a report (``report["classes"][label]``); empty when it passed.

    ``shift``: per feature space, :func:`feature_shift` of the class (names the features and the
    direction of a distribution shift); ``kinds``: validator config name -> validator kind
    (``report["validators"][name]["validator"]``, e.g. ``FD_effnet`` -> ``frechet``).  Each cause:
    ``cause``, ``title``, ``decides`` (a backing validator FAILed the class), ``strength`` in [0, 1],
    ``rank_score``, ``evidence`` (sentences), ``validators`` and ``fix`` (plus ``features`` for a
    distribution shift and ``confused_with`` for label disagreement)."""
    if c.get("verdict") == "pass":
        return []
    found: dict[str, dict[str, Any]] = {}

    def add(cause: str, strength: float, evidence: str, validator: str | None = None):
        f = found.setdefault(cause, {"strength": 0.0, "evidence": [], "validators": [], "fails": False})
        f["strength"] = max(f["strength"], float(strength))
        if validator and (vals.get(validator, {}).get("gate") or vals.get(validator, {}).get("status")) == "fail":
            f["fails"] = True
        if evidence and evidence not in f["evidence"]:
            f["evidence"].append(evidence)
        if validator and validator not in f["validators"]:
            f["validators"].append(validator)

    vals = c.get("validators") or {}
    for name, v in vals.items():
        k, d = _kind(name, kinds), v.get("details") or {}
        if v.get("status") == "incomputable" and "no room to show a gain" in str(v.get("reason") or ""):
            add("already_recognised", 0.3, f"{name}: {v.get('reason')}", name)
            continue
        if (v.get("status") == "incomputable" and v.get("gate") not in ("ignored",)) or v.get("gate") == "incomputable":
            add("too_little_real_data", 0.8 if c.get("verdict") == "incomputable" else 0.3,
                f"{name}: {v.get('reason') or 'could not compute'}", name)
            continue
        if not _bad(v):
            continue
        sev = _sev(v)
        mets = _failed_metrics(v)
        if k == "schema" or name == "schema":
            probs = d.get("problems") or []
            add("annotation_errors", max(sev, 0.9), f"{d.get('invalid', '?')} samples with invalid annotations"
                + (f", e.g. {probs[0]}" if probs else ""), name)
        elif k == "duplicates" or name == "duplicates":
            if "internal" in mets:
                add("mode_collapse", sev, f"{name}: near-duplicates inside the synthetic set"
                    f" ({d.get('exact_duplicates_inside', 0)} exact)", name)
            if "near_copy" in mets or d.get("exact_copies_of_real"):
                add("memorisation", sev, f"{name}: {d.get('near_copy_share_full', 0):.0%} near copies of real samples, "
                    f"{d.get('exact_copies_of_real', 0)} exact", name)
        elif k == "dcr" or name == "dcr":
            if "too_close" in mets:
                add("memorisation", sev, f"{name}: samples closer to real ones than real samples are to each other "
                    f"(median DCR ratio {d.get('dcr_ratio', float('nan')):.2f})", name)
            if "too_far" in mets:
                add("off_support", sev, f"{name}: too many samples farther from the real class than real samples are", name)
        elif k in ("label_agreement", "label_agreement_cf") or name.startswith("label_agreement"):
            conf = d.get("predicted_as") or {}
            top = sorted(conf.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            acc = d.get("accuracy", d.get("agreement"))
            what = ", ".join(f"'{lab}' ({n})" for lab, n in top) if top else "other classes"
            add("label_disagreement", sev, f"{name}: {acc if acc is None else format(acc, '.0%')} labelled as the class; "
                f"confused with {what}", name)
            if top:
                found["label_disagreement"]["confused_with"] = top[0][0]
        elif k == "class_separation" or name == "class_separation":
            add("label_disagreement", sev * 0.9, f"{name}: only {v.get('statistic', 0) or 0:.0%} of samples nearer "
                "their own real class than another", name)
        elif k == "diversity" or name == "diversity":
            add("mode_collapse", sev, f"{name}: {', '.join(mets) or 'spread'} below the real data's", name)
        elif k == "utility" or name == "utility":
            add("no_utility", sev, f"{name}: {d.get('why') or 'no recall gain'}", name)
        elif k == "bias" or name == "bias":
            flags = d.get("flags") or []
            add("attribute_bias", sev, f"{name}: " + ("; ".join(flags[:3]) if flags else f"worst attribute {d.get('worst_feature')}"), name)
            if d.get("worst_feature"):
                found["attribute_bias"]["attribute"] = d["worst_feature"]
        elif k == "filter" or name == "filter":
            add("off_support", max(sev, 0.7), f"filter: dropped {d.get('dropped', 0)} samples outside the real support "
                f"({v.get('statistic', 0) or 0:.0%})", name)
        elif k in DISTRIBUTION or k.startswith(("fd", "frechet")):
            wf = d.get("worst_feature")
            rej = d.get("rejected_features") or []
            add("distribution_shift", sev, f"{name}: differs" + (f", worst feature {wf}" if wf and wf not in (name, "auc") else "")
                + (f" ({len(rej)} features differ)" if rej else ""), name)
        elif mets and set(mets) & (DIVERSITY_METRICS | SUPPORT_METRICS | COPY_METRICS):
            for m in mets:
                if m in DIVERSITY_METRICS:
                    add("mode_collapse", sev, f"{name}: {m} below the real baseline (part of the real class not covered)", name)
                elif m in SUPPORT_METRICS:
                    add("off_support", sev, f"{name}: {m} below the real baseline (samples outside the real class)", name)
                elif m in COPY_METRICS:
                    add("memorisation", sev, f"{name}: {m} (samples too close to real ones)", name)
        elif d.get("worst_feature"):
            add("distribution_shift", sev, f"{name}: differs, worst {d['worst_feature']}", name)
        else:
            add("other", sev, f"{name}: {v.get('reason') or 'failed'}", name)
    if shift:
        spreads = [s["spread_ratio"] for s in shift.values() if s.get("spread_ratio") is not None]
        if spreads and min(spreads) < 0.25 and found:
            add("mode_collapse", 0.95, f"synthetic feature spread is {min(spreads):.0%} of the real class's "
                "(median std ratio): the samples are nearly alike", None)
            # nearly identical samples are why the distribution checks fail: it decides with them
            found["mode_collapse"]["fails"] = any(f["fails"] for f in found.values())
        if "distribution_shift" in found:
            feats = [dict(f, space=space) for space, s in shift.items() for f in s.get("features", [])]
            feats.sort(key=lambda f: (-_size(f), f["space"], f["feature"]))
            if feats:
                found["distribution_shift"]["features"] = feats[:5]
                found["distribution_shift"]["evidence"].insert(0, "features: " + ", ".join(_says(f) for f in feats[:3]))
            else:
                found["distribution_shift"]["joint"] = True
                found["distribution_shift"]["evidence"].append("no single feature moved by 0.3 sd or changed its spread "
                                                               "1.5x: their combination differs")
    if not found and c.get("verdict") != "pass":
        for r in c.get("reasons") or []:
            add("too_little_real_data" if c.get("verdict") == "incomputable" else "other", 0.5, str(r))
    out = []
    for cause, f in found.items():
        rank = round(f["strength"] * WEIGHT[cause], 6)
        fix = FIX[cause]
        if cause == "distribution_shift" and f.get("features"):
            fix = ", ".join(VERB[x["direction"]].format(x["feature"]) for x in f["features"][:3]) \
                  + " toward the real data (the generator's parameters that set them)"
        if cause == "distribution_shift" and f.get("joint"):
            fix = ("compare the real and synthetic samples and the PCA plot in the report: the features differ jointly "
                   "(e.g. correlations, or a cluster the generator over- or under-produces)")
        if cause == "label_disagreement" and f.get("confused_with"):
            fix = (f"the samples look like '{f['confused_with']}': check the generator's class mapping and parents, "
                   "or condition it more strongly on the label")
        if cause == "attribute_bias" and f.get("attribute"):
            fix = f"rebalance the generator's sampling of {f['attribute']} toward the real shares"
        d = {"cause": cause, "title": TITLE[cause], "decides": f["fails"], "strength": round(f["strength"], 4), "rank_score": rank,
             "evidence": f["evidence"], "validators": f["validators"], "fix": fix}
        for extra in ("features", "confused_with"):
            if extra in f:
                d[extra] = f[extra]
        out.append(d)
    out.sort(key=lambda d: (not d["decides"], -d["rank_score"], ORDER.index(d["cause"])))
    return out


def one_line(diagnosis: list[dict[str, Any]]) -> str:
    """The top cause in one terminal line: ``title: first evidence; fix: ...``."""
    if not diagnosis:
        return ""
    d = diagnosis[0]
    ev = d["evidence"][0] if d["evidence"] else ""
    return f"{d['title']}" + (f" ({ev})" if ev else "") + f"; fix: {d['fix']}"


# --- evaluate ------------------------------------------------------------------------------------

def diagnose_evaluation(samples: Sequence[Any], preds: Sequence[str], result: dict[str, Any], n_examples: int = 4,
                        break_error: float = 0.5) -> dict[str, Any]:
    """Failures of a model on a stress suite grouped by corruption family and severity, the worst
    corruptions with a few misclassified corrupted examples (ids and their clean parents), and the
    classes that break first: per class, the lowest severity at which its error over all corruptions
    reaches ``break_error`` (or its clean error + 0.25 when that is higher)."""
    fam: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    cls: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    wrong_by: dict[str, list[int]] = defaultdict(list)
    clean_of: dict[str, str] = {}  # base sample -> the suite's clean copy of it
    for i, s in enumerate(samples):
        p = s.provenance.params
        sev = int(p["severity"]) if p["corruption"] != "clean" else 0
        bad = preds[i] != s.label
        cls[s.label][sev].append(bad)
        if p["corruption"] == "clean":
            clean_of.setdefault(s.provenance.parents[0] if s.provenance.parents else s.id, s.id)
            continue
        fam[str(p.get("family") or p["corruption"])][sev].append(bad)
        if bad:
            wrong_by[p["corruption"]].append(i)
    families = []
    for f in sorted(fam):
        sev = {str(k): {"n": len(v), "error": round(float(np.mean(v)), 6)} for k, v in sorted(fam[f].items())}
        families.append({"family": f, "mean_error": round(float(np.mean([r["error"] for r in sev.values()])), 6), "severities": sev,
                         "corruptions": sorted(n for n, c in result["corruptions"].items() if str(c.get("family") or n) == f)})
    families.sort(key=lambda d: (-d["mean_error"], d["family"]))
    worst = sorted(result["corruptions"], key=lambda n: (-(result["corruptions"][n]["mean_error"] or 0), n))[:3]
    examples = []
    for n in worst:
        ix = sorted(wrong_by.get(n, []), key=lambda i: (-int(samples[i].provenance.params["severity"]), samples[i].id))
        for i in ix[:n_examples]:
            s = samples[i]
            parent = s.provenance.parents[0] if s.provenance.parents else None
            examples.append({"corruption": n, "severity": int(s.provenance.params["severity"]), "id": s.id,
                             "parent": parent, "clean_id": clean_of.get(parent) if parent else None,
                             "label": s.label, "predicted": preds[i]})
    classes = []
    for label in sorted(cls):
        per = {k: float(np.mean(v)) for k, v in sorted(cls[label].items())}
        clean = per.get(0)
        lim = max(break_error, (clean or 0.0) + 0.25)
        breaks = next((k for k in sorted(per) if k > 0 and per[k] >= lim), None)
        corr = [e for k, e in per.items() if k > 0]
        classes.append({"label": label, "clean_error": None if clean is None else round(clean, 6),
                        "severities": {str(k): round(e, 6) for k, e in per.items() if k > 0},
                        "mean_error": round(float(np.mean(corr)), 6) if corr else None, "breaks_at": breaks,
                        "break_error": round(lim, 6)})
    classes.sort(key=lambda d: (d["breaks_at"] if d["breaks_at"] is not None else 99, -(d["mean_error"] or 0), d["label"]))
    return {"families": families, "worst_corruptions": worst, "examples": examples, "classes_break_first": classes}
