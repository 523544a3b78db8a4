"""Is the default evidence right?  Known-answer generators through synthgen's own cross-fitted gate.

For images (scikit-learn digits), text (Debian fortunes) and point clouds (CGAL shapes) one rare class
is cut to 15 real samples (``KEEP``) and the dataset given to synthgen holds no held-out data, so
``evidence.reference=auto`` resolves to cross-fitting.  The rare class's other real samples form a
POOL synthgen never sees.  Per seed (the seed changes the kept samples, the 70/30 split of the other
classes and the generation seed):

1. real versus real: a generator returning POOL samples (parents=()) must be admitted (goal >= 95 %);
2. broken generators (another class relabeled, heavy noise, copies of the parents, constant output)
   must be refused every time, and the report names the validator that caught them;
3. utility: the modality's default generator; a fixed probe trained on real-only / plain oversampling
   / + the data synthgen admitted / + the data forced in, tested on the POOL and the other classes'
   30 %; and how often the gate's decision agrees with that held-out utility.

    python benchmarks/bench_evidence.py [--seeds 20] [--quick] [--modalities images text points]

Writes ``benchmarks/results/evidence.md`` (and ``evidence.json`` with every per-seed verdict).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import evidence_cases as EC  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CASES = ("default", "real (pool)", *EC.BROKEN)
QUICK = ("evidence.repeats=2",)  # --quick: fewer repeated splits


def _log(msg: str) -> None:
    print(msg, flush=True)


# --- one seed -------------------------------------------------------------------------------------

def _judge(cfg, mod: EC.Modality, sp: EC.Split, gen, n: int, seed: int, opts, mode: str) -> tuple[dict, list]:
    """Generate the merge set and the cross-fitted batches as ``synthgen run`` does, validate, gate."""
    from synthgen.crossfit import evidence_batches
    from synthgen.validate import run_validation

    gen.fit(sp.train)
    synthetic = list(gen.generate(mod.rare, n, seed))
    batches, _, _ = evidence_batches(gen, sp.train, synthetic, {mod.rare: n}, seed, opts, progress=False)
    v = run_validation(cfg.validation, sp.train, synthetic, seed, [mod.rare], gate=cfg.gate, train=sp.train,
                       batches=batches, mode=mode)
    verdict = v.verdicts[mod.rare]
    util = v.results.get("utility")
    ud = (util.per_class[mod.rare].details or {}) if util is not None and mod.rare in util.per_class else {}
    out = {"verdict": verdict["verdict"], "admitted": bool(verdict["admitted"]), "failed_by": list(verdict["failed_by"]),
           "warned_by": list(verdict["warned_by"]), "reasons": list(verdict["reasons"]),
           "gate_utility": {k: ud.get(k) for k in ("gain", "gain_ci", "gain_vs_oversampling", "worst_harm", "worst_harm_class",
                                                    "recall_real_only")} if ud else None}
    return out, synthetic


def _probe(cfg, mod: EC.Modality):
    from hydra.utils import instantiate
    from sklearn.base import clone

    node = cfg.validation.validators.utility.get("probe")
    if node is not None:
        return clone(instantiate(node, _partial_=False))
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def _utility(cfg, mod: EC.Modality, sp: EC.Split, featurizer, synthetic: list, admitted: bool, seed: int) -> dict:
    """Recall of the rare class on the POOL and macro recall of the others on their held-out 30 %, for a
    probe trained on: real only, plain oversampling (the rare rows duplicated to the synthetic count),
    + the synthetic data when the gate admitted it, + the synthetic data regardless."""
    from sklearn.base import clone

    classes = list(sp.train.classes)
    idx = {c: i for i, c in enumerate(classes)}
    Xtr = featurizer.transform(sp.train.samples)
    ytr = np.array([idx[s.label] for s in sp.train.samples])
    test = sp.test
    Xte = featurizer.transform(test)
    yte = np.array([idx[s.label] for s in test])
    Xs = featurizer.transform(synthetic) if synthetic else np.zeros((0, Xtr.shape[1]))
    ys = np.full(len(Xs), idx[mod.rare])
    own = np.flatnonzero(ytr == idx[mod.rare])
    dup = own[np.random.default_rng(seed).integers(len(own), size=len(Xs))]
    base = _probe(cfg, mod)
    r = idx[mod.rare]
    others = [idx[c] for c in classes if c != mod.rare and np.any(yte == idx[c])]

    def score(X, y):
        p = clone(base).fit(X, y).predict(Xte)
        return {"rare_recall": float(np.mean(p[yte == r] == r)),
                "others_macro_recall": float(np.mean([np.mean(p[yte == o] == o) for o in others]))}

    real = score(Xtr, ytr)
    forced = score(np.vstack([Xtr, Xs]), np.r_[ytr, ys])
    return {"real-only": real, "oversampling": score(np.vstack([Xtr, Xtr[dup]]), np.r_[ytr, ytr[dup]]),
            "+ accepted": forced if admitted else real, "+ forced": forced, "n_synthetic": int(len(Xs)),
            "n_test_rare": int(np.sum(yte == r)), "n_test_others": int(np.sum(yte != r))}


def run_modality(mod: EC.Modality, seeds: list[int], cache_dir: str, quick: bool) -> dict:
    from synthgen.config import build
    from synthgen.crossfit import EvidenceOptions, resolve_mode
    from synthgen.pipeline import plan_for

    cfg = EC.compose(mod, cache_dir, QUICK if quick else ())
    full = EC.load_full(mod, cfg)
    opts = EvidenceOptions.parse(cfg.evidence)
    mode = resolve_mode(opts, has_holdout=False, has_generator=True)
    assert mode == "crossfit", mode
    featurizer = build(cfg.validation.featurizers[mod.probe_features], f"validation.featurizers.{mod.probe_features}")
    per_seed = []
    t_mod = time.perf_counter()
    for seed in seeds:
        t0 = time.perf_counter()
        sp = EC.split(full, mod, seed)
        plan = plan_for(cfg, sp.train)
        n = {r.label: r.synthetic for r in plan.rows}.get(mod.rare, 0)
        assert 0 < n <= len(sp.pool), f"{mod.name}: plan asks {n} synthetic samples, the pool holds {len(sp.pool)}"
        row: dict[str, Any] = {"seed": seed, "n_synthetic": n, "n_pool": len(sp.pool), "n_train": len(sp.train),
                               "n_keep": sp.train.counts()[mod.rare], "cases": {}, "seconds": {}}
        gens = lambda: {"default": build(cfg.generator, "generator"),  # noqa: E731
                        "real (pool)": EC.PoolGenerator(sp.pool, mod.modality),
                        **{name: make(mod) for name, make in EC.BROKEN.items()}}
        default_syn = None
        for case, gen in gens().items():
            t = time.perf_counter()
            row["cases"][case], syn = _judge(cfg, mod, sp, gen, n, seed, opts, mode)
            row["seconds"][case] = round(time.perf_counter() - t, 2)
            if case == "default":
                default_syn = syn
        row["utility"] = _utility(cfg, mod, sp, featurizer, default_syn, row["cases"]["default"]["admitted"], seed)
        row["seconds"]["total"] = round(time.perf_counter() - t0, 2)
        per_seed.append(row)
        short = "  ".join(f"{c}: {'A' if row['cases'][c]['admitted'] else 'R'}" for c in CASES)
        _log(f"  [{mod.name}] seed {seed:>3}  {row['seconds']['total']:6.1f}s  (A admitted, R refused)  {short}")
    return {"modality": mod.name, "dataset": mod.overrides[0], "rare": mod.rare, "donor": mod.donor, "keep": EC.KEEP,
            "classes": list(full.classes), "counts": full.counts(), "evidence": {"folds": opts.folds, "repeats": opts.repeats,
                                                                                  "max_batch": opts.max_batch, "mode": mode},
            "seeds": per_seed, "seconds": round(time.perf_counter() - t_mod, 1)}


# --- summaries ------------------------------------------------------------------------------------

def _ci(x: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of the mean over seeds."""
    from scipy import stats

    a = np.asarray(x, np.float64)
    m = float(a.mean())
    if len(a) < 2:
        return m, m, m
    h = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    return m, m - h, m + h


def _name(tag: str) -> str:
    return tag.split(" (")[0]


def _cases(rows: list[dict]) -> dict:
    caught = Counter(_name(t) for r in rows if not r["admitted"] for t in r["failed_by"])
    return {"admitted": sum(r["admitted"] for r in rows), "refused": sum(not r["admitted"] for r in rows), "n": len(rows),
            "verdicts": dict(Counter(r["verdict"] for r in rows)), "caught_by": dict(caught.most_common()),
            "refused_without_validator": sum(1 for r in rows if not r["admitted"] and not r["failed_by"]),
            "warned_by": dict(Counter(_name(t) for r in rows for t in r["warned_by"]).most_common())}


def _agreement(seeds: list[dict], admitted: list[bool]) -> dict:
    """Gate decision (per seed) against the held-out utility of the same merge set."""
    u = lambda s, arm: s["utility"][arm]["rare_recall"]  # noqa: E731
    adm = [s for s, a in zip(seeds, admitted) if a]
    ref = [s for s, a in zip(seeds, admitted) if not a]
    return {"admitted": len(adm),
            "admitted_raised_vs_real": sum(u(s, "+ forced") > u(s, "real-only") for s in adm),
            "admitted_raised_vs_oversampling": sum(u(s, "+ forced") > u(s, "oversampling") for s in adm),
            "refused": len(ref),
            "refused_not_helped_vs_real": sum(u(s, "+ forced") <= u(s, "real-only") for s in ref),
            "refused_not_helped_vs_oversampling": sum(u(s, "+ forced") <= u(s, "oversampling") for s in ref)}


def summarize(res: dict) -> dict:
    seeds = res["seeds"]
    out: dict[str, Any] = {"n_seeds": len(seeds)}
    out["cases"] = {case: _cases([s["cases"][case] for s in seeds]) for case in CASES}
    util = {}
    for arm in ("real-only", "oversampling", "+ accepted", "+ forced"):
        util[arm] = {k: _ci([s["utility"][arm][k] for s in seeds]) for k in ("rare_recall", "others_macro_recall")}
    out["utility"] = util
    out["agreement"] = _agreement(seeds, [s["cases"]["default"]["admitted"] for s in seeds])
    gains = [s["cases"]["default"]["gate_utility"] for s in seeds]
    out["default_gate_gain"] = _ci([g["gain"] for g in gains if g and g.get("gain") is not None] or [float("nan")])
    out["seconds_per_seed"] = float(np.mean([s["seconds"]["total"] for s in seeds]))
    return out


def _caught(c: dict) -> str:
    parts = [f"{k} {v}" for k, v in c["caught_by"].items()]
    if c["refused_without_validator"]:
        parts.append(f"(refused, no validator named: {c['refused_without_validator']})")
    return ", ".join(parts) or "-"


def tables(results: dict[str, dict], sums: dict[str, dict]) -> str:
    mods = list(results)
    L = []
    L.append("### 1. Real versus real (perfect generator: POOL samples, parents=()) must be admitted (goal >= 95 %)\n")
    L.append("| modality | rare class (kept) | admitted | verdicts | refused by |")
    L.append("|---|---|---|---|---|")
    for m in mods:
        c, n = sums[m]["cases"]["real (pool)"], sums[m]["n_seeds"]
        L.append(f"| {m} | {results[m]['rare']} ({results[m]['keep']}) | {c['admitted']}/{n} = {c['admitted'] / n:.0%} | "
                 f"{', '.join(f'{k} {v}' for k, v in sorted(c['verdicts'].items()))} | {_caught(c) if c['refused'] else '-'} |")
    L.append("\n### 2. Broken generators must be refused (goal 100 %), naming the validator\n")
    L.append("Cells: refused share; the validators in `failed_by` (number of seeds each named it).\n")
    L.append("| case | " + " | ".join(mods) + " |")
    L.append("|---|" + "---|" * len(mods))
    for case in EC.BROKEN:
        cells = []
        for m in mods:
            c, n = sums[m]["cases"][case], sums[m]["n_seeds"]
            cells.append(f"**{c['refused'] / n:.0%}** ({c['refused']}/{n}): {_caught(c)}")
        L.append(f"| {case} | " + " | ".join(cells) + " |")
    L.append("\n### 3. Utility of the default generator on held-out real data (mean [95 % CI over seeds])\n")
    L.append("Probe trained on the data synthgen saw (15 real of the rare class + 70 % of every other class), "
             "tested on the POOL (rare) and the other classes' 30 %.\n")
    for m in mods:
        s = sums[m]
        gen = next(o for o in EC.MODALITIES[m].overrides if o.startswith(("generator=", "+experiment=")))
        L.append(f"**{m}** ({gen}; gate admitted the default generator in {s['cases']['default']['admitted']}/{s['n_seeds']} seeds; "
                 f"refused by: {_caught(s['cases']['default']) if s['cases']['default']['refused'] else '-'})\n")
        L.append("| training data | rare-class recall | other classes' macro recall |")
        L.append("|---|---|---|")
        for arm, v in s["utility"].items():
            f = lambda t: f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"  # noqa: E731
            L.append(f"| {arm} | {f(v['rare_recall'])} | {f(v['others_macro_recall'])} |")
        L.append("")
    L.append("### 4. Gate versus held-out utility (default generator)\n")
    L.append("| modality | admitted | ... raised rare recall vs real-only | ... vs oversampling | refused | ... would not have "
             "raised it vs real-only | ... vs oversampling |")
    L.append("|---|---|---|---|---|---|---|")
    for m in mods:
        a = sums[m]["agreement"]
        L.append(f"| {m} | {a['admitted']} | {a['admitted_raised_vs_real']}/{a['admitted']} | {a['admitted_raised_vs_oversampling']}/"
                 f"{a['admitted']} | {a['refused']} | {a['refused_not_helped_vs_real']}/{a['refused']} | "
                 f"{a['refused_not_helped_vs_oversampling']}/{a['refused']} |")
    L.append("\nThe gate's own cross-fitted estimate of the same gain (utility validator, default generator), mean over seeds, "
             "beside the held-out gain (+ forced minus real-only):\n")
    L.append("| modality | gate's cross-fitted recall gain | held-out recall gain |")
    L.append("|---|---|---|")
    for m in mods:
        s = sums[m]
        held = [r["utility"]["+ forced"]["rare_recall"] - r["utility"]["real-only"]["rare_recall"] for r in results[m]["seeds"]]
        g, h = s["default_gate_gain"], _ci(held)
        L.append(f"| {m} | {g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}] | {h[0]:+.3f} [{h[1]:+.3f}, {h[2]:+.3f}] |")
    L.append("\n### Runtime\n")
    L.append("| modality | seconds per seed (6 gate runs + utility) | total |")
    L.append("|---|---|---|")
    for m in mods:
        L.append(f"| {m} | {sums[m]['seconds_per_seed']:.1f} | {results[m]['seconds']:.0f} s |")
    return "\n".join(L) + "\n"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _dirty() -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "synthgen", "validators", "generators", "conf"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return bool(out.strip())
    except (OSError, subprocess.CalledProcessError):
        return False


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per modality (default 20)")
    ap.add_argument("--quick", action="store_true", help="3 seeds: a smoke test")
    ap.add_argument("--modalities", nargs="+", choices=list(EC.MODALITIES), default=list(EC.MODALITIES))
    ap.add_argument("--out", default=str(RESULTS / "evidence.md"), help="the Markdown file to write ('' for none)")
    a = ap.parse_args([] if argv is None else argv)
    n_seeds = 3 if a.quick else a.seeds
    seeds = list(range(n_seeds))
    cmd = "python benchmarks/bench_evidence.py " + " ".join(shlex.quote(x) for x in ([] if argv is None else argv))
    started = _dt.datetime.now().astimezone()
    commit = _commit() + (" (+ uncommitted changes in synthgen/, validators/, generators/ or conf/)" if _dirty() else "")
    _log(f"bench_evidence: {n_seeds} seeds x {', '.join(a.modalities)}; cases: {', '.join(CASES)}")
    results = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-evidence-cache-") as cache:
        for m in a.modalities:
            _log(f"== {m}")
            results[m] = run_modality(EC.MODALITIES[m], seeds, cache, a.quick)
    sums = {m: summarize(r) for m, r in results.items()}
    body = tables(results, sums)
    meta = {"command": cmd.strip(), "date": started.isoformat(timespec="seconds"),
            "commit": commit,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
                       f"Python {platform.python_version()}",
            "seconds": round(time.perf_counter() - t0, 1), "seeds": n_seeds}
    head = ["# Evidence benchmark: known-answer generators through the default cross-fitted gate\n",
            f"- command: `{meta['command']}`", f"- date: {meta['date']}", f"- synthgen commit: {meta['commit']}",
            f"- machine: {meta['machine']}", f"- wall time: {meta['seconds']:.0f} s", ""]
    for m, r in results.items():
        mod = EC.MODALITIES[m]
        head.append(f"- {m}: `{' '.join(mod.overrides)}`, rare class `{r['rare']}` cut to {r['keep']} real samples "
                    f"(pool of {r['seeds'][0]['n_pool']} never given to synthgen, {r['seeds'][0]['n_synthetic']} synthetic "
                    f"planned), relabel donor `{r['donor']}`, evidence {r['evidence']['mode']} "
                    f"{r['evidence']['folds']}x{r['evidence']['repeats']}" + (f", split by `{mod.group_by}`" if mod.group_by else ""))
    text = "\n".join(head) + "\n\n" + body
    _log("")
    _log(text)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": sums, "results": results}, indent=1,
                                                       default=str) + "\n")
        _log(f"wrote {out} and {out.with_suffix('.json').name}")
    return {"meta": meta, "summary": sums, "results": results, "markdown": text}


if __name__ == "__main__":
    main(sys.argv[1:])
