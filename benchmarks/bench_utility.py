"""Does synthetic data make the model better on real data?  Utility on the data the project ships.

For images (scikit-learn digits), text (Debian fortunes, 8 categories) and point clouds (CGAL shapes,
3 clouds per shape) several classes are cut to a few real samples (``RARE``); every other class gives
70 % of its samples to training and 30 % to the test set; a rare class's cut-away samples are split
into a test part (40 %) and an ORACLE pool (real samples nobody trains on unless the oracle row says
so).  Per seed (the seed changes the split and every generation seed), one probe (the utility
validator's: StandardScaler + LogisticRegression on 8x8 thumbnails for images, + RidgeClassifier on
hashed words for text, LogisticRegression on shape features for points) is trained on:

* real only; plain oversampling (rare rows duplicated to the uniform plan's counts); class weights;
* + each cheap generator's samples at the uniform plan's counts (``BUDGET`` in all), forced in, and
  only the classes synthgen's default gate admitted (cross-fitted, ``evidence.repeats=2``);
* model-guided versus uniform budget at the same synthetic count with the modality's main generator
  (``policy.target=model``: the probe's cross-fitted errors re-allocate the budget and weight the
  parents);
* ``synthgen loop`` (up to 3 rounds of BUDGET each, model-guided, through the gate; ``loop.min_gain=-1`` so
  only a round that admits nothing stops it) after each round, and the same loop with every round forced
  in (``merge.force=true``), to show what re-planning from the refitted model does over three rounds;
* the real-data oracle: the same count of extra real samples per rare class from the ORACLE pool.

and scored on the same test set: mean recall of the rare classes, overall accuracy.  Mean ± sd over
seeds.

    python benchmarks/bench_utility.py [--seeds 5] [--modalities images text points] [--quick]

Writes ``benchmarks/results/utility.md`` and ``utility.json``.
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
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import evidence_cases as EC  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TEST_SHARE_RARE = 0.4  # of a rare class's cut-away samples (the rest is the oracle pool)
SPECS: dict[str, dict[str, Any]] = {
    "images": {"mod": EC.MODALITIES["images"], "rare": {"3": 15, "5": 12, "8": 10}, "budget": 150,
               "generators": ["image_augment", "image_procedural"], "main": "image_augment"},
    "text": {"mod": EC.MODALITIES["text"], "rare": {"food": 15, "love": 15, "kids": 15}, "budget": 150,
             "generators": ["text_augment", "text_ngram"], "main": "text_augment"},
    # points: rare counts are shapes (3 clouds each); the mesh generator is parent-free, so model guidance
    # only moves the budget
    "points": {"mod": EC.MODALITIES["points"], "rare": {"box": 2, "sphere": 2}, "budget": 24,
               "generators": ["points_mesh"], "main": "points_mesh"},
}
COMMON = ("dataset.longtail=null", "evidence.reference=auto", "evidence.repeats=2", "evidence.max_batch=30",
          "policy.classes=null", "policy.rare_below=0.5", "policy.target=max", "policy.max_synthetic_fraction=0.9",
          "merge.into=null")


def _log(msg: str) -> None:
    print(msg, flush=True)


def compose(spec: dict[str, Any], generator: str | None, extra: tuple[str, ...] = (), name: str = "run"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    mod = spec["mod"]
    ov = [o for o in mod.overrides if not o.startswith("generator=")]
    if generator:
        ov.append(f"generator={generator}")
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        return hydra_compose(config_name=name, overrides=[*ov, *COMMON, f"policy.classes=[{','.join(spec['rare'])}]", *extra])


# --- the split ------------------------------------------------------------------------------------

def split(full, spec: dict[str, Any], seed: int) -> dict[str, Any]:
    """train (rare classes cut), test, and the rare classes' oracle pools (real, never trained on)."""
    from synthgen.seeding import derived_seed

    mod = spec["mod"]
    rng = np.random.default_rng(derived_seed(seed, "bench-utility-split", mod.name))
    keep, test, oracle = [], [], {}
    for c in full.classes:
        groups = EC._groups([s for s in full.samples if s.label == c], mod.group_by)
        order = rng.permutation(len(groups))
        if c in spec["rare"]:
            k = spec["rare"][c]
            rest = [groups[i] for i in order[k:]]
            n_test = int(round(TEST_SHARE_RARE * len(rest)))
            keep.extend(s for i in order[:k] for s in groups[i])
            test.extend(s for g in rest[:n_test] for s in g)
            oracle[c] = [s for g in rest[n_test:] for s in g]
        else:
            n_train = int(round(EC.OTHERS_TRAIN * len(groups)))
            for j, i in enumerate(order):
                (keep if j < n_train else test).extend(groups[i])
    index = {id(s): i for i, s in enumerate(full.samples)}
    keep.sort(key=lambda s: index[id(s)])
    return {"train": full.subset(keep), "test": full.subset(test), "oracle": oracle}


# --- scoring --------------------------------------------------------------------------------------

class Scorer:
    """One probe, one feature space, one test set: every row is scored by the same thing."""

    def __init__(self, cfg, sp: dict[str, Any], rare: list[str]):
        from synthgen.plan import default_probe, guide_featurizer

        self.feat = guide_featurizer(cfg, sp["train"].modality)
        self.probe = default_probe(cfg)
        self.rare = rare
        self.train = sp["train"]
        self.Xtr = self.X(sp["train"].samples)
        self.ytr = np.array([s.label for s in sp["train"].samples])
        self.Xte = self.X(sp["test"].samples)
        self.yte = np.array([s.label for s in sp["test"].samples])

    def X(self, samples) -> np.ndarray:
        if not samples:
            return np.zeros((0, self.Xtr.shape[1]))
        return np.asarray(self.feat.transform(list(samples)), np.float64).reshape(len(samples), -1)

    def score(self, extra=(), weights: bool = False, X_extra=None, y_extra=None) -> dict[str, float]:
        from sklearn.base import clone

        extra = list(extra)
        Xe = self.X(extra) if X_extra is None else X_extra
        ye = np.array([s.label for s in extra]) if y_extra is None else y_extra
        est = clone(self.probe)
        if weights:
            last = est.steps[-1][0] if hasattr(est, "steps") else None
            est.set_params(**{f"{last}__class_weight" if last else "class_weight": "balanced"})
        est.fit(np.vstack([self.Xtr, Xe]) if len(Xe) else self.Xtr, np.r_[self.ytr, ye] if len(Xe) else self.ytr)
        p = np.asarray(est.predict(self.Xte)).astype(str)
        rec = {c: float(np.mean(p[self.yte == c] == c)) for c in np.unique(self.yte)}
        return {"rare_recall": float(np.mean([rec[c] for c in self.rare])), "accuracy": float(np.mean(p == self.yte)),
                "macro_recall": float(np.mean(list(rec.values())))}

    def oversample(self, counts: dict[str, int], seed: int) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        idx = np.concatenate([np.flatnonzero(self.ytr == c)[rng.integers(np.sum(self.ytr == c), size=n)]
                              for c, n in counts.items() if n > 0])
        return self.score(X_extra=self.Xtr[idx], y_extra=self.ytr[idx])


def _generate(gen, counts: dict[str, int], seed: int) -> list:
    return [s for c, n in counts.items() if n > 0 for s in gen.generate(c, n, seed)]


def _gate(cfg, train, gen, syn: list, counts: dict[str, int], seed: int) -> dict[str, Any]:
    from synthgen.crossfit import EvidenceOptions, evidence_batches
    from synthgen.validate import run_validation

    labels = [c for c, n in counts.items() if n > 0]
    opts = EvidenceOptions.parse(cfg.evidence)
    batches, _, _ = evidence_batches(gen, train, syn, {c: counts[c] for c in labels}, seed, opts, progress=False)
    v = run_validation(cfg.validation, train, syn, seed, labels, gate=cfg.gate, train=train, batches=batches, mode="crossfit")
    return {c: {"admitted": bool(v.verdicts[c]["admitted"]), "verdict": v.verdicts[c]["verdict"],
                "failed_by": list(v.verdicts[c]["failed_by"])} for c in labels}


def _generator_rows(cfg, sp, sc: Scorer, counts: dict[str, int], seed: int, gen, name: str, out: dict) -> None:
    gen.fit(sp["train"])
    syn = _generate(gen, counts, seed)
    gate = _gate(cfg, sp["train"], gen, syn, counts, seed)
    Xs = sc.X(syn)
    ys = np.array([s.label for s in syn])
    ok = np.array([gate[s.label]["admitted"] for s in syn], bool) if len(syn) else np.zeros(0, bool)
    out[f"{name} (forced)"] = sc.score(X_extra=Xs, y_extra=ys)
    out[f"{name} (gate-accepted)"] = {**sc.score(X_extra=Xs[ok], y_extra=ys[ok]), "admitted": int(sum(g["admitted"] for g in gate.values())),
                                      "classes": len(gate), "gate": gate}


def run_seed(spec: dict[str, Any], full, seed: int, tmp: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from synthgen.config import build
    from synthgen.loop import _uniform_round, run_loop
    from synthgen.pipeline import plan_for

    cfg = compose(spec, spec["main"])
    sp = split(full, spec, seed)
    uniform_full = plan_for(cfg, sp["train"])
    rare = [c for c in spec["rare"] if uniform_full.counts().get(c, 0) > 0]
    assert rare == list(spec["rare"]), (rare, uniform_full.table())
    uniform = _uniform_round(uniform_full, spec["budget"], {}).counts()
    counts = {c: n for c, n in uniform.items() if n > 0}
    sc = Scorer(cfg, sp, rare)
    rows: dict[str, Any] = {"real only": sc.score(), "oversampling": sc.oversample(counts, seed),
                            "class weights": sc.score(weights=True)}
    t = {}
    for g in spec["generators"]:
        t0 = time.perf_counter()
        gcfg = cfg if g == spec["main"] else compose(spec, g)
        _generator_rows(gcfg, sp, sc, counts, seed, build(gcfg.generator, "generator"), f"{g}, uniform", rows)
        t[g] = round(time.perf_counter() - t0, 1)
    # model-guided at the same count: the budget alone (parent_boost=0), then budget + weighted parents
    t0 = time.perf_counter()
    for tag, boost in (("model-guided budget only", 0), ("model-guided", 3)):
        gcfg = OmegaConf.merge(cfg, {"policy": {"target": "model", "budget": int(sum(counts.values())), "parent_boost": boost}})
        plan = plan_for(gcfg, sp["train"])
        gen = build(cfg.generator, "generator")
        if boost:
            gen.guide(plan.guidance)
        _generator_rows(cfg, sp, sc, {c: n for c, n in plan.counts().items() if n > 0}, seed, gen, f"{spec['main']}, {tag}", rows)
        rows[f"{spec['main']}, {tag} (forced)"]["plan"] = {c: n for c, n in plan.counts().items() if n > 0}
    t["model-guided"] = round(time.perf_counter() - t0, 1)
    # the loop: as synthgen runs it (the gate decides each round), and with every round forced in
    import contextlib
    import io

    t0 = time.perf_counter()
    for tag, force in (("loop", ()), ("loop, forced", ("merge.force=true", "merge.reason=benchmark: every round merged"))):
        lcfg = compose(spec, spec["main"], ("loop.min_gain=-1", "rounds=3", f"loop.round_size={spec['budget']}",
                                             f"seed={seed}", "policy.target=model", "policy.budget=null", *force), name="loop")
        d = tmp / f"{tag.replace(', ', '-')}-{seed}"
        lcfg = OmegaConf.merge(lcfg, {"merge": {"into": str(d / "training_set")}})
        d.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the loop's own per-round tables
            state = run_loop(lcfg, d, sp["train"], sp["test"], "benchmark test split")["loop"]
        for r in state["rounds"][1:]:
            rows[f"{tag}, after round {r['round']}"] = {k: r["metrics"][k] for k in ("rare_recall", "accuracy", "macro_recall")} | {
                "n_synthetic": r["n_synthetic"], "added": r.get("added")}
        if state.get("stopped"):
            rows[f"{tag}, after round {state['rounds'][-1]['round']}"]["stopped"] = state["stopped"]
    t["loop"] = round(time.perf_counter() - t0, 1)
    # the oracle: as many extra REAL samples per rare class as the uniform plan generates
    extra, short = [], {}
    for c, n in counts.items():
        pool = sp["oracle"][c]
        extra += pool[:n]
        if len(pool) < n:
            short[c] = len(pool)
    rows["real-data oracle (same count)"] = {**sc.score(extra), **({"pool_short": short} if short else {})}
    return {"seed": seed, "counts": counts, "n_train": len(sp["train"]), "n_test": len(sp["test"]), "rows": rows, "seconds": t}


def run_modality(name: str, seeds: list[int], tmp: Path) -> dict[str, Any]:
    spec = SPECS[name]
    cfg = compose(spec, spec["main"])
    full = EC.load_full(spec["mod"], cfg)
    out = []
    for seed in seeds:
        t0 = time.perf_counter()
        res = run_seed(spec, full, seed, tmp)
        out.append(res)
        r = res["rows"]
        _log(f"  [{name}] seed {seed}: {time.perf_counter() - t0:6.1f}s {res['seconds']}  rare recall real {r['real only']['rare_recall']:.3f}  "
             f"uniform {r[spec['main'] + ', uniform (forced)']['rare_recall']:.3f}  "
             f"guided {r[spec['main'] + ', model-guided (forced)']['rare_recall']:.3f}  "
             f"oracle {r['real-data oracle (same count)']['rare_recall']:.3f}")
    return {"modality": name, "rare": spec["rare"], "budget": spec["budget"], "main": spec["main"], "seeds": out,
            "dataset": spec["mod"].overrides[0]}


# --- summaries ------------------------------------------------------------------------------------

def summarize(res: dict[str, Any]) -> dict[str, Any]:
    names = list(dict.fromkeys(n for s in res["seeds"] for n in s["rows"]))
    names.sort(key=lambda n: (3 if n.startswith("real-data oracle") else 2 if n.startswith("loop, forced")
                              else 1 if n.startswith("loop") else 0, n if n.startswith("loop") else ""))
    table = {}
    for n in names:
        vals = {k: [s["rows"][n][k] for s in res["seeds"] if n in s["rows"]] for k in ("rare_recall", "accuracy")}
        real = {k: [s["rows"]["real only"][k] for s in res["seeds"] if n in s["rows"]] for k in ("rare_recall", "accuracy")}
        table[n] = {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for k, v in vals.items()}
        table[n]["acc_drop_seeds"] = int(sum(a < b - 1e-12 for a, b in zip(vals["accuracy"], real["accuracy"])))
        table[n]["n"] = len(vals["accuracy"])
        syn = [s["rows"][n]["n_synthetic"] for s in res["seeds"] if n in s["rows"] and "n_synthetic" in s["rows"][n]]
        table[n]["synthetic"] = (f"{np.mean(syn):.0f}" if syn else "" if n in ("real only", "class weights")
                                 or n.startswith("real-data") else f"{res.get('budget', '')}")
        if any("gate" in s["rows"].get(n, {}) for s in res["seeds"]):
            table[n]["admitted"] = f"{sum(s['rows'][n]['admitted'] for s in res['seeds'] if n in s['rows'])}/{sum(s['rows'][n]['classes'] for s in res['seeds'] if n in s['rows'])}"
    main = res["main"]
    u = [s["rows"][f"{main}, uniform (forced)"]["rare_recall"] for s in res["seeds"]]
    g = [s["rows"][f"{main}, model-guided (forced)"]["rare_recall"] for s in res["seeds"]]
    d = np.array(g) - np.array(u)
    goals = {"guided_minus_uniform_rare_recall": (float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0),
             "guided_wins": f"{int(np.sum(d > 0))}/{len(d)}"}
    harm = []
    for s in res["seeds"]:
        for n, r in s["rows"].items():
            gated = (n.endswith("(gate-accepted)") and r["admitted"]) or (n.startswith("loop, after") and r.get("n_synthetic"))
            if gated and r["accuracy"] < s["rows"]["real only"]["accuracy"] - 1e-12:
                harm.append({"seed": s["seed"], "row": n, "drop": s["rows"]["real only"]["accuracy"] - r["accuracy"]})
    goals["gate_accepted_rows_below_real_only_accuracy"] = harm
    over = np.mean([s["rows"]["oversampling"]["rare_recall"] for s in res["seeds"]])
    orc = np.mean([s["rows"]["real-data oracle (same count)"]["rare_recall"] for s in res["seeds"]])
    # at the oracle's count: the loop rows add BUDGET per round, so they are not compared here
    best_name, best = max(((n, t["rare_recall"][0]) for n, t in table.items() if t["n"] == len(res["seeds"])
                           and not n.startswith("loop")
                           and n not in ("real-data oracle (same count)", "real only", "oversampling", "class weights")),
                          key=lambda kv: kv[1])
    goals["gap_closed_by_best"] = {"row": best_name, "share": float((best - over) / (orc - over)) if orc != over else None}
    return {"table": table, "goals": goals}


def tables(results: dict[str, Any], sums: dict[str, Any]) -> str:
    lines = []
    for name, res in results.items():
        s = sums[name]
        seeds = [r["seed"] for r in res["seeds"]]
        lines += [f"### {name} ({res['dataset']}; rare classes cut to {res['rare']}; {res['budget']} synthetic samples in all; "
                  f"seeds {seeds[0]}-{seeds[-1]})", "", f"`{res.get('command', '')}` — commit {res.get('commit', '?')}, "
                  f"{res.get('seconds', '?')} s wall on a shared 2-core machine", "",
                  "| training set | added samples (mean) | rare-class recall | overall accuracy | accuracy < real only (seeds) | gate admitted (classes) |",
                  "|---|---|---|---|---|---|"]
        for n, t in s["table"].items():
            lines.append(f"| {n} | {t.get('synthetic', '')} | {t['rare_recall'][0]:.3f} ± {t['rare_recall'][1]:.3f} | "
                         f"{t['accuracy'][0]:.3f} ± {t['accuracy'][1]:.3f} | {t['acc_drop_seeds']}/{t['n']} | {t.get('admitted', '')} |")
        g = s["goals"]
        d = g["guided_minus_uniform_rare_recall"]
        lines += ["", f"- model-guided minus uniform ({res['main']}, same count, forced): rare recall {d[0]:+.3f} ± {d[1]:.3f}, "
                  f"guided higher in {g['guided_wins']} seeds",
                  f"- best synthgen row at the same count: {g['gap_closed_by_best']['row']}, closing "
                  f"{'n/a' if g['gap_closed_by_best']['share'] is None else format(g['gap_closed_by_best']['share'], '.0%')} "
                  f"of the oversampling -> oracle gap",
                  f"- gate-accepted rows with overall accuracy below real only: {len(g['gate_accepted_rows_below_real_only_accuracy'])} "
                  f"(row x seed)" + (": " + "; ".join(f"{h['row']} seed {h['seed']} (-{h['drop']:.3f})"
                                                      for h in g['gate_accepted_rows_below_real_only_accuracy']) if
                                     g['gate_accepted_rows_below_real_only_accuracy'] else ""), ""]
    return "\n".join(lines)


def _commit() -> str:
    """HEAD's short hash, with "+ uncommitted changes" when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--modalities", nargs="+", default=list(SPECS), choices=list(SPECS))
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args(argv)
    seeds = list(range(a.seeds))
    results, sums = {}, {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-utility-") as tmp:
        for m in a.modalities:
            _log(f"{m}:")
            results[m] = run_modality(m, seeds, Path(tmp) / m)
            sums[m] = summarize(results[m])
    cmd = "python benchmarks/bench_utility.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    secs = round(time.perf_counter() - t0)
    for m in results:
        results[m]["command"], results[m]["commit"], results[m]["seconds"] = cmd.strip(), _commit(), secs
    out = Path(a.out)
    prev = out / "utility.json"
    if prev.exists():  # a run of some modalities keeps the others' results (each names its own command)
        old = json.loads(prev.read_text())
        for m, r in old.get("results", {}).items():
            if m not in results and m in SPECS:
                results[m], sums[m] = r, summarize(r)
        results = {m: results[m] for m in SPECS if m in results}
    md = ["# Utility benchmark: does synthgen's data raise recall on real test data?", "",
          f"{platform.processor() or platform.machine()}, {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d}.  Each section names "
          f"the command (and commit) that produced it.", "",
          "Mean ± sd over seeds.  One probe per modality (the utility validator's) on one test split per seed.  "
          "*forced*: every generated sample; *gate-accepted*: only the classes the default gate admitted "
          "(cross-fitted, evidence.repeats=2).", "", tables(results, sums)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "utility.md").write_text("\n".join(md) + "\n")
    (out / "utility.json").write_text(json.dumps({"results": results, "summary": sums, "command": cmd.strip(),
                                                   "commit": _commit()}, indent=1, default=str) + "\n")
    print("\n".join(md))
    return {"results": results, "summary": sums}


if __name__ == "__main__":
    main()
