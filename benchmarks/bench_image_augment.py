"""``image_augment`` throughput against a plain albumentations loop over the same images, with the
same pipeline, parents and seeds (goal: overhead under 10 %, i.e. ratio < 1.10).

(The MMD engine against a per-permutation implementation is in ``bench_validators.py``.)
"""
from __future__ import annotations


import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # run as a script or through run_all

from benchmarks.common import median_of, ratio_line

PIPELINE = [
    {"name": "RandomCrop", "height": 112, "width": 112, "p": 1.0},
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "ColorJitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05, "p": 0.8},
    {"name": "GaussNoise", "std_range": [0.02, 0.06], "p": 0.5},
    {"name": "Blur", "blur_limit": [3, 5], "p": 0.3},
]


def bench_augment(n: int = 400) -> str:
    import albumentations as A

    from synthgen.generators.image import ImageAugment
    from synthgen.generators.image.augment import build_transform
    from synthgen.io.digits import load_digits_dataset
    from synthgen.seeding import sample_rng

    ds = load_digits_dataset(128)
    ds = ds.subset([s for s in ds.samples if s.label == "3"])
    gen = ImageAugment(PIPELINE).fit(ds)
    pool = ds.samples
    raw = A.Compose([build_transform(t, f"t{i}") for i, t in enumerate(PIPELINE)], seed=0)
    # the raw loop does the same work: pick the same parents, seed the same way, apply the pipeline
    picks = []
    for i in range(n):
        rng = sample_rng(0, "3", i)
        picks.append((pool[int(rng.integers(len(pool)))].data, int(rng.integers(2**31 - 1))))

    def ours():
        for _ in gen.generate("3", n, 0):
            pass

    def reference():
        for img, s in picks:
            raw.set_random_seed(s)
            raw(image=img)

    ours()
    t_ours, t_ref = median_of(ours)[0], median_of(reference)[0]
    return ratio_line(f"image_augment, {n} images 128x128 ({n / t_ours:.0f} img/s)", t_ours, t_ref, goal="goal < 1.10")


def main() -> None:
    print(bench_augment())


if __name__ == "__main__":
    main()
