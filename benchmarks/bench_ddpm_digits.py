"""How good is ``image_ddpm`` on scikit-learn's digits?  The README's figure comes from this script.

Trains the class-conditional DDPM on all 1,797 real digits (the same code path as
``synthgen experiment=digits_ddpm``; the checkpoint is cached and reused), samples ``--per-class``
images of every class, and reports how often a 1-nearest-neighbour classifier fitted on the real
digits (at the model's 16x16 resolution) labels a sample as its intended class.  The same classifier's
accuracy on held-out real digits (5-fold) is printed beside it as the ceiling.

    python benchmarks/bench_ddpm_digits.py --steps 1500 --per-class 50 [--grid docs/img/image_ddpm.png]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def downsample(images: np.ndarray, r: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a[:, :, 0]).resize((r, r), Image.BOX), dtype=np.float32).ravel() for a in images])


def main(argv: list[str] | None = None) -> dict:
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from synthgen.generators.image import ImageDDPM
    from synthgen.io.digits import load_digits_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--guidance", type=float, nargs="*", default=[1.0, 2.0])
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--grid", default=None, help="write a 10 x 8 PNG grid of samples here")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    ds = load_digits_dataset(32)
    real = np.stack([s.data for s in ds.samples])
    y = np.array([int(s.label) for s in ds.samples])
    xr = downsample(real, 16)
    knn = KNeighborsClassifier(1).fit(xr, y)
    ceiling = float(cross_val_score(KNeighborsClassifier(1), xr, y, cv=5).mean())
    t = time.monotonic()
    g = ImageDDPM(train_steps=a.steps, max_seconds=a.max_seconds, cache_dir=a.cache_dir).fit(ds)
    fit_s = time.monotonic() - t
    info = g.train_info_
    print(f"model: {info['parameters']:,} parameters, {info['steps_trained']} steps in {info['seconds']} s "
          f"({'reused checkpoint' if info['reused'] else 'trained now'}; fit took {fit_s:.1f} s), final loss {info['final_loss']}")
    res = {"ceiling_real_5fold": ceiling, "steps": info["steps_trained"], "train_seconds": info["seconds"]}
    for w in a.guidance:
        g.guidance = float(w)  # no state to reset: groups are made inside generate()
        t = time.monotonic()
        samples = [s for c in ds.classes for s in g.generate(c, a.per_class, a.seed)]
        ss = time.monotonic() - t
        xs = downsample(np.stack([s.data for s in samples]), 16)
        ys = np.array([int(s.label) for s in samples])
        acc = float((knn.predict(xs) == ys).mean())
        res[f"accuracy_w{w:g}"] = acc
        print(f"guidance {w:g}: 1-NN labels {acc:.1%} of {len(samples)} samples as their intended class "
              f"(sampling {len(samples) / ss:.1f} images/s)")
        if a.grid and w == a.guidance[-1]:
            from PIL import Image

            rows = [np.concatenate([s.data for s in samples if s.label == c][:8], 1) for c in ds.classes]
            Image.fromarray(np.concatenate(rows, 0)).save(a.grid, optimize=True)
            print(f"grid: {a.grid}")
    print(f"ceiling: 1-NN on held-out real digits (5-fold) {ceiling:.1%}")
    return res


if __name__ == "__main__":
    main()
