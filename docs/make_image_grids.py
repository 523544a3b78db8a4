"""Draw the example grids in docs/img/ (one per image generator), labels overlaid.

    python docs/make_image_grids.py            # copy-paste, procedural, diffusion (tiny, random weights)
    python benchmarks/bench_ddpm_digits.py --grid docs/img/image_ddpm.png   # the DDPM grid

Mask outlines and boxes are drawn from the generated labels, so the grids also show that labels sit
where the pixels are.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
COLOURS = {0: (255, 80, 80), 1: (80, 200, 255), 2: (255, 220, 60), 3: (120, 255, 120), 4: (255, 120, 255)}


def overlay(s, classes: list[str], scale: int = 2) -> np.ndarray:
    import cv2

    img = np.ascontiguousarray(np.kron(s.data, np.ones((scale, scale, 1), np.uint8)))
    for o in s.annotations.get("objects", []):
        c = COLOURS[classes.index(o["category"]) % len(COLOURS)]
        if o.get("mask") is not None:
            m = np.kron(o["mask"], np.ones((scale, scale), np.uint8))
            cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(img, cs, -1, c, 1)
        x, y, w, h = (int(round(v * scale)) for v in o["bbox"])
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), c, 1)
        for kx, ky, v in o.get("keypoints") or []:
            if v > 0:
                cv2.circle(img, (int(kx * scale), int(ky * scale)), 2, (255, 255, 255) if v == 2 else (128, 128, 128), -1)
    return img


def grid(images: list[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    g = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        g[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im[:, :, :3]
    return g


def save(arr: np.ndarray, name: str) -> None:
    from PIL import Image

    p = OUT / name
    Image.fromarray(arr).save(p, optimize=True)
    if p.stat().st_size > 190_000:  # keep README images small: a 256-colour palette
        Image.fromarray(arr).quantize(256, method=Image.Quantize.MEDIANCUT).save(p, optimize=True)
    print(f"{p} ({p.stat().st_size // 1024} KB)")


def main() -> None:
    from omegaconf import OmegaConf

    from synthgen.generators.image import ImageCopyPaste, ImageDiffusion, ImageProcedural
    from synthgen.generators.image.diffusion import build_random_pipeline
    from synthgen.io.digits import load_digits_dataset
    from synthgen.io.skimage_scenes import load_coins_detection

    OUT.mkdir(parents=True, exist_ok=True)
    coins = load_coins_detection()
    exp = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "experiment" / "coins_copy_paste.yaml")
    cfg = OmegaConf.to_container(exp.generator)
    rows = []
    for blend in ("hard", "gaussian", "poisson"):
        g = ImageCopyPaste(**{**cfg, "blend": blend, "objects_per_image": [1, 2]}).fit(coins)
        rows += [overlay(s, coins.classes, 1) for s in g.generate("large_coin", 4, 0)]
    save(grid(rows, 4), "image_copy_paste.png")

    shapes = ["circle", "triangle", "star", "hexagon", "cross"]
    g = ImageProcedural(size=96, task="detection", distractors=[1, 2]).fit(None)
    g.classes_ = shapes
    ims = [overlay(s, shapes, 1) for c in shapes for s in g.generate(c, 2, 0)]
    digits = load_digits_dataset(32)
    gd = ImageProcedural(blur=[0.4, 1.0]).fit(digits)
    ims += [np.kron(s.data, np.ones((3, 3, 1), np.uint8)) for c in digits.classes for s in gd.generate(c, 1, 0)]
    save(grid(ims, 10), "image_procedural.png")

    with tempfile.TemporaryDirectory() as tmp:
        path = build_random_pipeline(Path(tmp) / "tiny", "tiny", 32)
        small = digits.subset([s for s in digits.samples if s.label in ("3", "8")][:60])
        ims = []
        for mode in ("txt2img", "img2img"):
            gg = ImageDiffusion(pipeline={"path": str(path)}, mode=mode, steps=10, strength=0.3).fit(small)
            ims += [np.kron(s.data, np.ones((2, 2, 1), np.uint8)) for s in gg.generate("3", 8, 0)]
        save(grid(ims, 8), "image_diffusion_random_weights.png")


if __name__ == "__main__":
    main()
