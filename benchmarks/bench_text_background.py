"""Does text_ngram gain from the other classes as background?  Rare-class recall on held-out fortunes.

The split, probe and budget of ``bench_utility.py --modalities text`` (8 fortunes categories; food,
love and kids cut to 15 texts; the uniform plan's counts, 150 in all), text_ngram forced in at
``background`` = 0, 0.1, 0.25, 0.5 beside real-only and plain oversampling.

    python benchmarks/bench_text_background.py [--seeds 4]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import bench_utility as BU  # noqa: E402
from benchmarks import evidence_cases as EC  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.25, 0.5)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    a = ap.parse_args(argv)
    from synthgen.config import build
    from synthgen.loop import _uniform_round
    from synthgen.pipeline import plan_for

    spec = BU.SPECS["text"]
    cfg = BU.compose(spec, "text_ngram")
    full = EC.load_full(spec["mod"], cfg)
    rows: dict[str, list] = {}
    for seed in range(a.seeds):
        sp = BU.split(full, spec, seed)
        sc = BU.Scorer(cfg, sp, list(spec["rare"]))
        counts = {c: n for c, n in _uniform_round(plan_for(cfg, sp["train"]), spec["budget"], {}).counts().items() if n > 0}
        rows.setdefault("real only", []).append(sc.score())
        rows.setdefault("oversampling", []).append(sc.oversample(counts, seed))
        for w in WEIGHTS:
            g = build(cfg.generator, "generator")
            g.background = w
            g.fit(sp["train"])
            rows.setdefault(f"text_ngram background={w}", []).append(sc.score(BU._generate(g, counts, seed)))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"| training data ({a.seeds} seeds, mean ± sd) | rare-class recall | accuracy |")
    print("|---|---|---|")
    for k, v in rows.items():
        r, acc = np.array([x["rare_recall"] for x in v]), np.array([x["accuracy"] for x in v])
        print(f"| {k} | {r.mean():.3f} ± {r.std():.3f} | {acc.mean():.3f} ± {acc.std():.3f} |")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
