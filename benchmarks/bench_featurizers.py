"""Which image feature space tells classes apart: the 8x8 thumbnail or EfficientNet-Lite0 (at what size)?

The deciding image checks (``label_agreement_cf``, ``utility``) fit StandardScaler + class-balanced
LogisticRegression(C=1) on one feature space; a space in which real classes are not separable cannot
judge labels.  On data that ships with installed packages (nothing is downloaded) this measures, per
dataset and feature space:

* **accuracy**: cross-fitted balanced accuracy of that probe on real samples (stratified 5-fold,
  repeated; mean ± sd over repeats): how well the space tells the classes apart;
* **ms/image**: featurization CPU time per image (process time, one torch thread, the model already
  loaded), and once, the CPU cost of importing torch and loading the weights;
* **auto**: the space the ``auto`` featurizer (``validators/auto.py``) chooses for the dataset.

Datasets: the default job's digits (scikit-learn 8x8 scans upscaled to 32 px, grey); scikit-image's
``lfw_subset`` (faces vs non-faces, 25 px grey); scikit-image textures (brick, grass, gravel: grey
96 px crops); crops of six colour photos (scikit-image astronaut, chelsea, coffee, rocket;
scikit-learn china, flower) at 96 px in colour, at 96 px and 48 px in grey, and at 32 px in colour.

    .venv/bin/python benchmarks/bench_featurizers.py [--per-class 30] [--repeats 2] [--sizes 32 64 96 128 224]

Writes ``benchmarks/results/featurizers.md`` (``--out`` to change, ``--out -`` for stdout only).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchmarks.common  # noqa: E402,F401  (NO_ALBUMENTATIONS_UPDATE, OMP_NUM_THREADS=1)

import numpy as np  # noqa: E402

from synthgen.sample import Sample  # noqa: E402

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "china", "flower"]


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = np.clip(np.round(a * 255.0 if a.max() <= 1.0 else a), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def _grey(a: np.ndarray) -> np.ndarray:
    luma = 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]
    return _rgb(np.clip(np.round(luma), 0, 255).astype(np.uint8))


def _samples(images, labels, name) -> list[Sample]:
    return [Sample(f"{name}-{i:04d}", _rgb(im), str(lab)) for i, (im, lab) in enumerate(zip(images, labels))]


def _crops(img: np.ndarray, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = img.shape[:2]
    out = []
    for _ in range(n):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out.append(img[y:y + size, x:x + size])
    return out


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)


def datasets(per_class: int, seed: int = 0) -> dict[str, list[Sample]]:
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    from synthgen.io.digits import load_digits_dataset

    rng = np.random.default_rng(seed)
    out = {}
    d = load_digits_dataset(32)
    keep = [s for c in d.classes for s in d.by_class(c)[:per_class]] if hasattr(d, "by_class") else d.samples
    out["digits 32 px grey (10 classes)"] = [Sample(s.id, _rgb(s.data), s.label) for s in keep]
    faces = skd.lfw_subset()  # 100 faces, then 100 non-faces
    idx = np.r_[0:min(100, per_class * 2), 100:100 + min(100, per_class * 2)]
    out["lfw faces/non-faces 25 px grey (2)"] = _samples(faces[idx], ["face" if i < 100 else "other" for i in idx], "lfw")
    imgs, labs = [], []
    for t in ("brick", "grass", "gravel"):
        for c in _crops(getattr(skd, t)(), per_class, 96, rng):
            imgs.append(c)
            labs.append(t)
    out["textures 96 px grey (3)"] = _samples(imgs, labs, "tex")
    sk = load_sample_images()
    photos = {"china": sk.images[0], "flower": sk.images[1]}
    photos.update({n: getattr(skd, n)() for n in PHOTOS if n not in photos})
    crops = {n: _crops(photos[n], per_class, 96, rng) for n in PHOTOS}
    labs = [n for n in PHOTOS for _ in range(per_class)]
    out["photo crops 96 px colour (6)"] = _samples([c for n in PHOTOS for c in crops[n]], labs, "photo")
    out["photo crops 96 px grey (6)"] = _samples([_grey(_rgb(c)) for n in PHOTOS for c in crops[n]], labs, "photog")
    out["photo crops 48 px grey (6)"] = _samples([_grey(_rgb(_resize(c, 48))) for n in PHOTOS for c in crops[n]], labs, "photog48")
    out["photo crops 32 px colour (6)"] = _samples([_resize(c, 32) for n in PHOTOS for c in crops[n]], labs, "photos")
    return out


def crossfit_accuracy(X: np.ndarray, y: list[str], repeats: int, seed: int = 0) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    accs = []
    for r in range(repeats):
        pred = np.empty_like(y)
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed + r).split(X, y):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000))
            pred[te] = clf.fit(X[tr], y[tr]).predict(X[te])
        accs.append(balanced_accuracy_score(y, pred))
    return float(np.mean(accs)), float(np.std(accs))


def import_cost() -> float:
    """CPU seconds to import torch and load the EfficientNet-Lite0 weights, in a fresh process."""
    code = ("import time; t = time.process_time()\n"
            "from synthgen.validators.effnet import load_model; load_model()\n"
            "print(time.process_time() - t)\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", NO_ALBUMENTATIONS_UPDATE="1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    return float(p.stdout.split()[-1]) if p.returncode == 0 else float("nan")


def _git() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
        return f"commit {rev}" + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "commit unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=30, help="images per class (lfw: 2x, at most 100)")
    ap.add_argument("--repeats", type=int, default=2, help="repeats of the stratified 5-fold cross-fit")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 128, 224], help="EfficientNet-Lite0 input sizes")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "featurizers.md"))
    args = ap.parse_args(argv)

    from synthgen.validators.auto import AutoImageFeaturizer
    from synthgen.validators.features import ThumbnailFeaturizer

    t_wall = time.perf_counter()
    load = import_cost()
    from synthgen.validators.effnet import EffNetLite0Featurizer, load_model

    load_model()
    spaces = {"thumb 8x8": lambda: ThumbnailFeaturizer(8)}
    spaces.update({f"effnet {s} px": (lambda s=s: EffNetLite0Featurizer(image_size=s, threads=1)) for s in args.sizes})
    data = datasets(args.per_class)
    rows, zero = [], set()
    for dname, samples in data.items():
        y = [s.label for s in samples]
        auto = AutoImageFeaturizer().prepare(samples)
        auto_space = f"effnet {auto.image_size} px" if auto.choice == "effnet" else "thumb 8x8"
        row = {"dataset": dname, "n": len(samples), "auto": auto.choice, "auto_space": auto_space, "cells": {}}
        for sname, make in spaces.items():
            f = make()
            t = time.process_time()
            X = np.asarray(f.transform(samples), np.float64)
            ms = 1000 * (time.process_time() - t) / len(samples)
            m, sd = crossfit_accuracy(X, y, args.repeats)
            row["cells"][sname] = (m, sd, ms)
            if not X.any():
                zero.add(sname)
            print(f"{dname:<38} {sname:<14} accuracy {m:.3f} ± {sd:.3f}  {ms:7.2f} ms/image", flush=True)
        rows.append(row)
    wall = time.perf_counter() - t_wall

    names = list(spaces)
    lines = ["# Image feature spaces: thumbnail vs EfficientNet-Lite0", "",
             f"{platform.machine()}, {time.strftime('%Y-%m-%d')}.  "
             f"`.venv/bin/python benchmarks/bench_featurizers.py --per-class {args.per_class} --repeats {args.repeats} "
             f"--sizes {' '.join(map(str, args.sizes))}` — {_git()}, {wall:.0f} s wall on a shared 2-core machine.", "",
             "Cross-fitted balanced accuracy (StandardScaler + class-balanced LogisticRegression(C=1), the probe of "
             f"label_agreement_cf/utility; stratified 5-fold x {args.repeats}, mean ± sd over repeats) of the real "
             "classes in each space; chance = 1 / classes.  *auto chooses*: the space `validation/featurizer=auto` picks "
             f"for the dataset (its rule: colour, or a shorter side >= {AutoImageFeaturizer().min_side} px, for at least "
             "half the images; *auto's accuracy - best*: what that choice gives up against the best column).", "",
             "| dataset (classes) | n | " + " | ".join(names) + " | auto chooses | auto's accuracy - best |",
             "|---|---|" + "---|" * len(names) + "---|---|"]
    for r in rows:
        best = max(r["cells"].values(), key=lambda c: c[0])[0]
        cells = [(f"**{m:.3f}** ± {sd:.3f}" if m == best else f"{m:.3f} ± {sd:.3f}") for m, sd, _ in r["cells"].values()]
        mine = r["cells"].get(r["auto_space"], (float("nan"),))[0]
        lines.append(f"| {r['dataset']} | {r['n']} | " + " | ".join(cells) + f" | {r['auto_space']} | {mine - best:+.3f} |")
    lines += ["", "Featurization CPU time per image (ms; one thread, model loaded; mean over each dataset's images):", "",
              "| dataset | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for r in rows:
        lines.append(f"| {r['dataset']} | " + " | ".join(f"{c[2]:.2f}" for c in r["cells"].values()) + " |")
    if zero:
        lines += ["", f"{', '.join(sorted(zero))}: every feature is 0 on some dataset (the network's last feature map "
                  "is 1x1 at that input), so it measures nothing."]
    lines += ["", f"One-off: importing torch and loading the EfficientNet-Lite0 weights costs {load:.2f} CPU-s "
              "(fresh process); the thumbnail imports nothing beyond OpenCV.", ""]
    text = "\n".join(lines)
    print("\n" + text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
