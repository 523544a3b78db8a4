"""Images per second of each image generator against the raw library doing the same work.

For each generator the "raw" column runs the same library calls without synthgen (no per-sample
seeding, provenance, occlusion bookkeeping or label checks); the ratio synthgen / raw is the price
of synthgen's guarantees.  No assertions: this prints a table.

* copy_paste: cv2.warpAffine + mask + alpha/seamlessClone blend of a real coin on a real background;
* procedural: cv2.fillPoly of random polygons on a gradient background;
* ddpm: DDIM sampling with classifier-free guidance, the same UNet2DModel called in a plain loop;
* diffusion: a StableDiffusionPipeline called directly with the same prompts, batch and generators.

    python benchmarks/bench_image_generators.py [--n 200] [--only copy_paste procedural ddpm diffusion]
        [--device cpu|cuda] [--arch tiny|sd15] [--size 32] [--steps 4] [--batch 4]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402


def _rate(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / max(time.perf_counter() - t, 1e-9)


def bench_copy_paste(n: int, blend: str = "gaussian"):
    import cv2

    from synthgen.generators.image import ImageCopyPaste
    from synthgen.generators.image.copy_paste import feather
    from synthgen.io.skimage_scenes import load_coins_detection

    cv2.setNumThreads(1)
    ds = load_coins_detection()
    g = ImageCopyPaste(blend=blend, objects_per_image=[1, 1], scale=[0.9, 1.1], max_overlap=1.0).fit(ds)
    ours = _rate(lambda: list(g.generate("large_coin", n, 0)), n)
    pool = g.pool_["large_coin"]
    bgs = [s.data for s in ds.samples if s.label == "small_coin"]
    rng = np.random.default_rng(0)

    def raw():
        for _ in range(n):
            o = pool[int(rng.integers(len(pool)))]
            bg = bgs[int(rng.integers(len(bgs)))].copy()
            h, w = o["mask"].shape
            M = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-180, 180)), float(rng.uniform(0.9, 1.1)))
            pix = cv2.warpAffine(o["pixels"], M, (w, h), borderMode=cv2.BORDER_REPLICATE)
            m = (cv2.warpAffine(o["mask"].astype(np.float32), M, (w, h)) >= 0.5).astype(np.uint8)
            y, x = int(rng.integers(0, bg.shape[0] - h)), int(rng.integers(0, bg.shape[1] - w))
            if blend == "poisson":
                cv2.seamlessClone(pix, bg, m * 255, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
            else:
                a = feather(m, 1.5)[:, :, None]
                reg = bg[y:y + h, x:x + w]
                reg[...] = (a * pix + (1 - a) * reg).astype(np.uint8)

    return ours, _rate(raw, n)


def bench_procedural(n: int):
    import cv2

    from synthgen.generators.image import ImageProcedural

    cv2.setNumThreads(1)
    g = ImageProcedural(size=64, task="detection", backgrounds=["gradient"], textures=["solid"], distractors=[0, 0],
                        objects_per_image=[2, 2]).fit(None)
    g.classes_ = ["star", "hexagon"]
    ours = _rate(lambda: list(g.generate("star", n, 0)), n)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0

    def raw():
        for _ in range(n):
            c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            img = (c1 * (1 - xx[..., None]) + c2 * xx[..., None]).astype(np.uint8)
            for _k in range(2):
                t = np.deg2rad(np.arange(10) * 36 - 90)
                r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45) * rng.uniform(10, 18)
                pts = np.stack([np.cos(t) * r, np.sin(t) * r], 1) + rng.uniform(18, 46, 2)
                m = np.zeros((64, 64), np.uint8)
                cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1, shift=4)
                img[m > 0] = rng.integers(0, 256, 3)

    return ours, _rate(raw, n)


def bench_ddpm(n: int, device: str):
    import torch
    from diffusers import DDIMScheduler

    from synthgen.generators.image import ImageDDPM
    from synthgen.io.digits import load_digits_dataset

    ds = load_digits_dataset(32)
    with tempfile.TemporaryDirectory() as cache:
        g = ImageDDPM(train_steps=0, cache_dir=cache, device=device, sample_batch=32).fit(ds)  # speed does not depend on the weights
        ours = _rate(lambda: list(g.generate("3", n, 0)), n)
        model = g.model_

        def raw():
            for start in range(0, n, 32):
                b = min(32, n - start)
                x = torch.randn((b, 1, 16, 16), generator=torch.Generator().manual_seed(start)).to(device)
                y = torch.full((b,), 3, device=device)
                s = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=True)
                s.set_timesteps(25)
                with torch.no_grad():
                    for t in s.timesteps:
                        e = model(torch.cat([x, x]), t, class_labels=torch.cat([y, torch.full_like(y, 10)])).sample
                        ec, eu = e.chunk(2)
                        x = s.step(eu + 2.0 * (ec - eu), t, x, eta=0.0).prev_sample
                ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

        return ours, _rate(raw, n)


def bench_diffusion(n: int, device: str, arch: str, size: int, steps: int, batch: int):
    import torch

    from synthgen.generators.image import ImageDiffusion
    from synthgen.generators.image.diffusion import build_random_pipeline
    from synthgen.io.digits import load_digits_dataset

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = build_random_pipeline(os.path.join(tmp, "sd"), arch, size)
        print(f"  (built a random-weight {arch} pipeline in {time.perf_counter() - t:.1f} s)")
        g = ImageDiffusion(pipeline={"path": str(path)}, steps=steps, batch_size=batch, device=device,
                           height=size, width=size, output_size=size).fit(load_digits_dataset(32))
        list(g.generate("3", batch, 99))  # warm-up (kernels, allocator)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        ours = _rate(lambda: list(g.generate("3", n, 0)), n)
        pipe = g.pipe_

        def raw():
            for start in range(0, n, batch):
                b = min(batch, n - start)
                gens = [torch.Generator().manual_seed(start + k) for k in range(b)]
                pipe(prompt=["a photo of a 3"] * b, num_inference_steps=steps, guidance_scale=7.5, generator=gens,
                     height=size, width=size, output_type="np")
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        return ours, _rate(raw, n)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="images per measurement (diffusion and ddpm use fewer)")
    ap.add_argument("--only", nargs="*", default=["copy_paste", "procedural", "ddpm", "diffusion"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arch", default="tiny", choices=["tiny", "sd15"])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args(argv)
    import torch

    if a.device == "cpu":
        torch.set_num_threads(1)
    rows = {}
    for name in a.only:
        print(f"{name} ...", flush=True)
        if name == "copy_paste":
            rows["copy_paste (gaussian)"] = bench_copy_paste(a.n, "gaussian")
            rows["copy_paste (poisson)"] = bench_copy_paste(a.n, "poisson")
        elif name == "procedural":
            rows["procedural"] = bench_procedural(a.n)
        elif name == "ddpm":
            rows[f"ddpm sampling ({a.device})"] = bench_ddpm(max(32, a.n // 4), a.device)
        elif name == "diffusion":
            rows[f"diffusion {a.arch} {a.size}px {a.steps} steps ({a.device})"] = bench_diffusion(
                max(a.batch, a.n // 25), a.device, a.arch, a.size, a.steps, a.batch)
        else:
            raise SystemExit(f"unknown benchmark {name!r}")
    w = max(len(k) for k in rows)
    print(f"\n{'generator':<{w}}  {'synthgen img/s':>14}  {'raw img/s':>10}  {'ratio':>6}")
    for k, (ours, raw) in rows.items():
        print(f"{k:<{w}}  {ours:>14.1f}  {raw:>10.1f}  {ours / raw:>6.2f}")
    return rows


if __name__ == "__main__":
    main()
