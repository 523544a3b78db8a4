"""Do generated clouds have the real class's proportions?  points_mesh ``geometry: ranges`` (hand-set
size ranges) against ``fitted`` (each sample stretched to a real parent's principal-axis ratios), on
CGAL's box meshes from Debian's libcgal-demo (30 real clouds: 10 meshes x 3).

    python benchmarks/bench_points_geometry.py [--n 60]

Prints, per mode, the mean principal-spread ratios (2nd / 1st, 3rd / 1st), the KS distance of each ratio
to the real clouds', and for ``fitted`` the error of each cloud's ratios against its own parent's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def ratios(clouds) -> np.ndarray:
    from synthgen.generators.points.mesh import principal_spreads

    out = []
    for c in clouds:
        sp, _ = principal_spreads(np.asarray(c, np.float64)[:, :3])
        out.append(sp / sp[0])
    return np.array(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="generated clouds per mode")
    a = ap.parse_args(argv)
    from hydra import compose, initialize_config_module
    from scipy.stats import ks_2samp

    from synthgen.config import build
    from synthgen.pipeline import load_dataset

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run", overrides=["+experiment=cgal_box", "dataset.samples_per_shape=3", "dataset.longtail=null"])
    train, _ = load_dataset(cfg.dataset)
    real = {s.id: s.data for s in train.samples if s.label == "box"}
    R = ratios(real.values())
    print(f"real box clouds: {len(R)}; mean ratios {R[:, 1].mean():.3f} / {R[:, 2].mean():.3f}")
    print("| geometry | mean 2nd/1st | mean 3rd/1st | KS 2nd/1st | KS 3rd/1st | mean error vs parent | ms per cloud |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("ranges", "fitted"):
        g = build(cfg.generator, "generator")
        g.geometry = mode
        g.fit(train)
        t0 = time.perf_counter()
        made = list(g.generate("box", a.n, 0))
        ms = (time.perf_counter() - t0) / a.n * 1000
        Q = ratios(s.data for s in made)
        err = "n/a"
        if mode == "fitted":
            P = ratios(real[s.provenance.parents[0]] for s in made)
            err = f"{np.abs(Q - P)[:, 1:].mean():.4f}"
        print(f"| {mode} | {Q[:, 1].mean():.3f} | {Q[:, 2].mean():.3f} | {ks_2samp(R[:, 1], Q[:, 1]).statistic:.3f} | "
              f"{ks_2samp(R[:, 2], Q[:, 2]).statistic:.3f} | {err} | {ms:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
