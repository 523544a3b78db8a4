"""``generator=image_ddpm``: a small class-conditional diffusion model fitted on the real data itself.

The answer when no pretrained pipeline exists or the domain is far from natural photos.  ``fit``
trains a diffusers ``UNet2DModel`` with class embeddings (one extra "null" class for classifier-free
guidance: labels are dropped with probability ``p_uncond``) on every real image, at ``resolution``
pixels, as a DDPM (epsilon prediction, MSE).  Training stops at ``train_steps`` or after
``max_seconds``, whichever comes first, on CPU (one thread) or CUDA.

The trained weights (an exponential moving average, ``ema_decay``) are saved with
``save_pretrained`` (safetensors) under ``cache_dir/<key>/``, where ``key`` is a digest of the
training data, the training config and the torch/diffusers versions; a later ``fit`` with the same
key loads them instead of training again.  A run cut short by ``max_seconds`` saves what it reached
(recorded as ``steps_trained``), so reruns reuse those exact weights.

Sampling uses DDIM (``inference_steps``, eta = 0) with classifier-free guidance
``eps = eps_uncond + guidance * (eps_cond - eps_uncond)`` (1 = plain conditional).  ``mode=img2img``
(SDEdit; DA-Fusion's idea with our own model): a real parent of the class is noised to ``strength``
(the share of the DDIM schedule run again: 1 = from pure noise) and denoised under the class's
condition; the parent is recorded in the provenance (so cross-fitting keeps it out of its fold).  Sample ``i``'s
starting noise comes from ``torch_generator(seed, label, i)``; samples are computed in fixed groups
of ``sample_batch`` consecutive indices, so any split into shards gives the same bytes.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from synthgen.config import digest, library_versions, plain
from synthgen.errors import ConfigError, InsufficientDataError
from synthgen.io.common import sha256_file

from ..base import BaseGenerator


def default_cache_dir() -> Path:
    return Path(os.environ.get("SYNTHGEN_CACHE", Path.home() / ".cache" / "synthgen")) / "ddpm"


def pick_device(device: str) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"generator.device: {device} requested but CUDA is not available")
    return str(device)


def weights_digest(folder: str | Path) -> str:
    """sha256 over the weight files in a folder (relative names and contents, sorted)."""
    import hashlib

    root = Path(folder)
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".ckpt", ".pt", ".pth"))
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


class ImageDDPM(BaseGenerator):
    """Class-conditional DDPM trained on the real images, sampled with DDIM and guidance."""

    modality = "image"
    version = "1"
    short_name = "ddpm"
    crossfit_repeats = 1  # each cross-fitting fold trains the model again: one repeat (K trainings)
    libraries = ("torch", "diffusers", "safetensors", "numpy")

    def __init__(self, resolution: int = 16, channels="auto", block_out_channels=(32, 64, 64), layers_per_block: int = 1,
                 attention: bool = True, train_steps: int = 3000, max_seconds: float | None = None, batch_size: int = 64,
                 learning_rate: float = 2e-3, warmup_steps: int = 100, ema_decay: float = 0.995, p_uncond: float = 0.1,
                 num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2", inference_steps: int = 25,
                 guidance: float = 2.0, sample_batch: int = 32, output_size=None, device: str = "auto",
                 cache_dir: str | None = None, train_seed: int = 0, mode: str = "sample", strength: float = 0.6):
        self.resolution = int(resolution)
        self.channels = channels
        self.block_out_channels = [int(c) for c in plain(block_out_channels)]
        self.layers_per_block = int(layers_per_block)
        self.attention = bool(attention)
        self.train_steps = int(train_steps)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.ema_decay = float(ema_decay)
        self.p_uncond = float(p_uncond)
        self.num_train_timesteps = int(num_train_timesteps)
        self.beta_schedule = beta_schedule
        self.inference_steps = int(inference_steps)
        self.guidance = float(guidance)
        self.sample_batch = int(sample_batch)
        self.output_size = plain(output_size)
        self.device = device
        self.cache_dir = cache_dir
        self.train_seed = int(train_seed)
        self.mode = str(mode)
        self.strength = float(strength)

    # sampling settings do not change the trained model
    _SAMPLING = ("inference_steps", "guidance", "sample_batch", "output_size", "device", "cache_dir", "mode", "strength")

    def _check(self) -> None:
        if self.resolution < 8 or self.resolution % (2 ** (len(self.block_out_channels) - 1)):
            raise ConfigError(f"generator.resolution: must be >= 8 and divisible by {2 ** (len(self.block_out_channels) - 1)} "
                              f"(one halving per extra block), got {self.resolution}")
        if self.channels not in ("auto", 1, 3):
            raise ConfigError(f"generator.channels: must be auto, 1 or 3, got {self.channels!r}")
        if not self.block_out_channels or any(c % 8 for c in self.block_out_channels):
            raise ConfigError(f"generator.block_out_channels: each must be a multiple of 8 (group norm), got {self.block_out_channels}")
        if self.train_steps < 0:
            raise ConfigError(f"generator.train_steps: must be >= 0, got {self.train_steps}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigError(f"generator.max_seconds: must be positive or null, got {self.max_seconds}")
        if self.batch_size < 1 or self.sample_batch < 1 or self.inference_steps < 1:
            raise ConfigError("generator.batch_size/sample_batch/inference_steps: must be >= 1")
        if not 0.0 <= self.p_uncond < 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("generator.p_uncond/ema_decay: must be in [0, 1)")
        if self.mode not in ("sample", "img2img"):
            raise ConfigError(f"generator.mode: must be sample or img2img, got {self.mode!r}")
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError(f"generator.strength: must be in (0, 1], got {self.strength}")
        if self.beta_schedule not in ("linear", "scaled_linear", "squaredcos_cap_v2"):
            raise ConfigError(f"generator.beta_schedule: must be linear, scaled_linear or squaredcos_cap_v2, got {self.beta_schedule!r}")

    # -- data ----------------------------------------------------------------------------------------
    def _tensor_data(self, real):
        """(N, C, r, r) float32 in [-1, 1], (N,) class indices, channel count, output (h, w)."""
        from PIL import Image

        imgs = [np.asarray(s.data) for s in real.samples]
        if self.channels == "auto":
            gray = all(a.ndim == 2 or a.shape[2] == 1 or (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]))
                       for a in imgs[:: max(1, len(imgs) // 64)])
            c = 1 if gray else 3
        else:
            c = int(self.channels)
        r = self.resolution
        out = np.empty((len(imgs), c, r, r), np.float32)
        for k, a in enumerate(imgs):
            out[k] = self._to_model(a, c)
        index = {cl: i for i, cl in enumerate(real.classes)}
        y = np.array([index[s.label] for s in real.samples], dtype=np.int64)
        shapes = np.array([a.shape[:2] for a in imgs])
        hw = (int(np.median(shapes[:, 0])), int(np.median(shapes[:, 1])))
        return out, y, c, hw

    def _to_model(self, a: np.ndarray, c: int) -> np.ndarray:
        """One image -> (c, r, r) float32 in [-1, 1] (box-filtered to the model's resolution)."""
        from PIL import Image

        r = self.resolution
        a = np.asarray(a)
        if a.ndim == 2:
            a = a[:, :, None]
        a = a[:, :, :1] if c == 1 else (np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[:, :, :3])
        pil = Image.fromarray(a[:, :, 0] if c == 1 else a)
        arr = np.asarray(pil.resize((r, r), Image.BOX), dtype=np.float32).reshape(r, r, c)
        return arr.transpose(2, 0, 1) / 127.5 - 1.0

    def _unet(self, channels: int, n_classes: int):
        from diffusers import UNet2DModel

        n = len(self.block_out_channels)
        down = ["DownBlock2D"] + ["AttnDownBlock2D" if self.attention else "DownBlock2D"] * (n - 1)
        up = ["AttnUpBlock2D" if self.attention else "UpBlock2D"] * (n - 1) + ["UpBlock2D"]
        return UNet2DModel(sample_size=self.resolution, in_channels=channels, out_channels=channels,
                           layers_per_block=self.layers_per_block, block_out_channels=tuple(self.block_out_channels),
                           down_block_types=tuple(down), up_block_types=tuple(up), num_class_embeds=n_classes + 1,
                           norm_num_groups=8, attention_head_dim=8)

    def _scheduler(self, kind: str):
        from diffusers import DDIMScheduler, DDPMScheduler

        cls = DDPMScheduler if kind == "ddpm" else DDIMScheduler
        return cls(num_train_timesteps=self.num_train_timesteps, beta_schedule=self.beta_schedule, clip_sample=True,
                   prediction_type="epsilon")

    # -- learning ------------------------------------------------------------------------------------
    def fit(self, real) -> "ImageDDPM":
        import torch

        self._check()
        real.require_nonempty()
        torch.set_num_threads(1)
        self.real_ = real
        self.classes_ = list(real.classes)
        x, y, c, hw = self._tensor_data(real)
        self.channels_ = c
        self.out_hw_ = tuple(int(v) for v in (self.output_size if isinstance(self.output_size, (list, tuple))
                                               else (self.output_size, self.output_size))) if self.output_size else hw
        train_cfg = {k: v for k, v in self.get_params().items() if k not in self._SAMPLING}
        import hashlib

        data_hash = hashlib.sha256(x.tobytes() + y.tobytes() + "\x1f".join(self.classes_).encode()).hexdigest()
        self.key_ = digest({"train": train_cfg, "data": data_hash, "channels": c, "version": self.version,
                            "libs": library_versions(("torch", "diffusers"))})[:16]
        root = Path(str(self.cache_dir)).expanduser() if self.cache_dir else default_cache_dir()
        self.checkpoint_ = root / self.key_
        dev = pick_device(self.device)
        self.device_ = dev
        if (self.checkpoint_ / "synthgen.json").exists():
            from diffusers import UNet2DModel

            self.model_ = UNet2DModel.from_pretrained(str(self.checkpoint_), local_files_only=True).to(dev).eval()
            self.train_info_ = json.loads((self.checkpoint_ / "synthgen.json").read_text())
            self.train_info_["reused"] = True
        else:
            self.model_, self.train_info_ = self._train(x, y, c, dev)
            self._save(root)
            self.train_info_["reused"] = False
        self.weights_sha256_ = weights_digest(self.checkpoint_)
        return self

    def _train(self, x: np.ndarray, y: np.ndarray, c: int, dev: str):
        import torch
        import torch.nn.functional as F

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.train_seed)
            model = self._unet(c, len(self.classes_)).to(dev)
        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
        sched = self._scheduler("ddpm")
        alphas = sched.alphas_cumprod.to(dev)
        g = torch.Generator(device="cpu").manual_seed(self.train_seed)
        X = torch.from_numpy(x).to(dev)
        Y = torch.from_numpy(y).to(dev)
        null = len(self.classes_)
        opt = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.0)
        total = max(self.train_steps, 1)

        def lr_at(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            p = (step - self.warmup_steps) / max(1, total - self.warmup_steps)
            return 0.5 * (1 + np.cos(np.pi * min(p, 1.0))) * 0.95 + 0.05

        model.train()
        import sys

        from tqdm import tqdm

        # training takes minutes on a CPU: a bar on a terminal (none when stderr is not a TTY)
        bar = tqdm(total=self.train_steps, desc="train ddpm", unit="step", disable=None, file=sys.stderr,
                   mininterval=1.0)
        t0, c0, step, losses = time.monotonic(), time.process_time(), 0, []
        while step < self.train_steps:
            if self.max_seconds is not None and time.monotonic() - t0 >= self.max_seconds:
                break
            idx = torch.randint(len(X), (self.batch_size,), generator=g).to(dev)
            noise = torch.randn((self.batch_size, *X.shape[1:]), generator=g).to(dev)
            t = torch.randint(0, self.num_train_timesteps, (self.batch_size,), generator=g).to(dev)
            drop = (torch.rand(self.batch_size, generator=g) < self.p_uncond).to(dev)
            labels = torch.where(drop, torch.full_like(Y[idx], null), Y[idx])
            a = alphas[t].view(-1, 1, 1, 1)
            xt = a.sqrt() * X[idx] + (1 - a).sqrt() * noise
            pred = model(xt, t, class_labels=labels).sample
            loss = F.mse_loss(pred, noise)
            for grp in opt.param_groups:
                grp["lr"] = self.learning_rate * lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                d = min(self.ema_decay, (1 + step) / (10 + step))
                for k, v in model.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
                    else:
                        ema[k].copy_(v)
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
        bar.close()
        seconds, cpu_seconds = time.monotonic() - t0, time.process_time() - c0
        model.load_state_dict(ema)
        model.eval()
        tail = losses[-100:] or [float("nan")]
        info = {"steps_trained": step, "steps_requested": self.train_steps, "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu_seconds, 2),
                "stopped_by": "max_seconds" if step < self.train_steps else "train_steps",
                "final_loss": round(float(np.mean(tail)), 5) if losses else None, "device": dev,
                "classes": self.classes_, "channels": self.channels_, "resolution": self.resolution,
                "parameters": int(sum(p.numel() for p in model.parameters()))}
        return model, info

    def _save(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{self.key_}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.model_.save_pretrained(str(tmp), safe_serialization=True)
            (tmp / "synthgen.json").write_text(json.dumps(self.train_info_, indent=2, sort_keys=True) + "\n")
            if self.checkpoint_.exists():  # another process finished first: keep theirs
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
                from diffusers import UNet2DModel

                self.model_ = UNet2DModel.from_pretrained(str(self.checkpoint_), local_files_only=True).to(self.device_).eval()
                self.train_info_ = json.loads((self.checkpoint_ / "synthgen.json").read_text())
            else:
                os.replace(tmp, self.checkpoint_)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # -- sampling ------------------------------------------------------------------------------------
    def generate(self, label: str, n: int, seed: int, indices: Sequence[int] | None = None) -> Iterator:
        if getattr(self, "model_", None) is None:
            raise ConfigError(f"generator {self.short_name}: call fit(real) before generate()")
        if label not in self.classes_:
            raise InsufficientDataError(f"class '{label}': the model was trained on {', '.join(self.classes_)} only")
        return super().generate(label, n, seed, indices)

    def group_size(self) -> int:
        return self.sample_batch

    def _make_group(self, label: str, indices: list[int], seed: int) -> list[tuple]:
        from synthgen.seeding import sample_rng

        g = indices[0] // self.sample_batch
        params: dict[str, Any] = {"checkpoint": self.key_, "weights_sha256": self.weights_sha256_,
                                  "steps_trained": self.train_info_["steps_trained"], "sampler": "ddim",
                                  "inference_steps": self.inference_steps, "guidance": self.guidance,
                                  "group": [g, self.sample_batch], "device": self.device_, "mode": self.mode}
        parents: list[Any] = [None] * len(indices)
        if self.mode == "img2img":  # SDEdit / DA-Fusion: a real parent of the class, noised to `strength`
            pool = self.candidates(label)
            parents = [pool[int(sample_rng(seed, label, i).integers(len(pool)))] for i in indices]
            params["strength"] = self.strength
        out = []
        for img, p in zip(self._sample(label, seed, indices, parents), parents):
            par = dict(params, parent=p.id) if p is not None else dict(params)
            out.append((np.ascontiguousarray(img), {}, [p.id] if p is not None else [], par))
        return out

    def _sample(self, label: str, seed: int, idx: list[int], parents: list[Any]) -> np.ndarray:
        import torch
        from PIL import Image

        from synthgen.seeding import torch_generator

        c, r, dev = self.channels_, self.resolution, self.device_
        x = torch.stack([torch.randn((c, r, r), generator=torch_generator(seed, label, i)) for i in idx]).to(dev)
        y = torch.full((len(idx),), self.classes_.index(label), dtype=torch.long, device=dev)
        null = torch.full_like(y, len(self.classes_))
        sched = self._scheduler("ddim")
        sched.set_timesteps(self.inference_steps)
        steps = sched.timesteps
        if self.mode == "img2img":
            # start part-way down the schedule from the parent noised to that step (as diffusers' img2img)
            start = min(int(round(len(steps) * (1.0 - self.strength))), len(steps) - 1)
            steps = steps[start:]
            x0 = torch.from_numpy(np.stack([self._to_model(p.data, c) for p in parents])).to(dev)
            x = sched.add_noise(x0, x, steps[:1].repeat(len(idx)))
        with torch.no_grad():
            for t in steps:
                if self.guidance == 1.0:
                    eps = self.model_(x, t, class_labels=y).sample
                else:
                    e = self.model_(torch.cat([x, x]), t, class_labels=torch.cat([y, null])).sample
                    ec, eu = e.chunk(2)
                    eps = eu + self.guidance * (ec - eu)
                x = sched.step(eps, t, x, eta=0.0).prev_sample
        arr = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy().transpose(0, 2, 3, 1)
        h, w = self.out_hw_
        out = []
        for a in arr:
            im = Image.fromarray(a[:, :, 0] if c == 1 else a)
            if (h, w) != (r, r):
                im = im.resize((w, h), Image.BILINEAR)
            b = np.asarray(im, dtype=np.uint8)
            out.append(np.repeat(b[:, :, None], 3, axis=2) if c == 1 else b)
        return np.stack(out)
