"""``generator=image_diffusion``: a pretrained diffusers pipeline, from a local folder only.

Two modes:

* ``txt2img``: text-to-image from class prompt templates (``prompt``, or ``prompts`` per class;
  ``{label}`` is replaced by ``names[label]`` or the class name);
* ``img2img``: SDEdit from a real image of the class (chosen by the sample's own RNG) at
  ``strength`` (0 keeps the parent, 1 ignores it).

The pipeline is read with ``DiffusionPipeline.from_pretrained(pipeline.path, local_files_only=True)``
(any Stable Diffusion style folder written by ``save_pretrained``: model_index.json plus
components); nothing is downloaded.  Sample ``i`` of a class gets its own ``torch.Generator``
seeded from ``(seed, label, i)`` (on the CPU, so initial latents are the same on every device), and
samples run in fixed groups of ``batch_size`` consecutive indices so that any split into shards gives
the same bytes on a given device.  CUDA is used when present (``device: auto``).  The provenance
records the prompt, the settings and a sha256 of the pipeline's weight files.

Only image-level labels come out (classification): boxes and masks cannot be carried through a
diffusion model exactly, so a detection or segmentation dataset is refused with a clear error.

``build_random_pipeline(path)`` writes a tiny (or Stable-Diffusion-1.5-sized) pipeline with random
weights and an in-memory CLIP tokenizer: for tests, benchmarks and smoke runs without downloads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError

from ..base import BaseGenerator
from .ddpm import pick_device, weights_digest

MODES = ("txt2img", "img2img")


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_clip_tokenizer(folder: str | Path, max_length: int = 16):
    """A character-level CLIP tokenizer (no merges): 514 tokens, written to ``folder`` and loaded."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length,
                         pad_token="<|endoftext|>")


def build_random_pipeline(path: str | Path, arch: str = "tiny", sample_size: int = 32, seed: int = 0) -> Path:
    """Write a Stable Diffusion pipeline with random weights to ``path`` (``save_pretrained``).

    ``arch="tiny"``: a few thousand parameters, images of ``sample_size`` pixels (tests).
    ``arch="sd15"``: the Stable Diffusion 1.5 architecture (UNet 860 M parameters) at 512 pixels by
    default, for realistic speed measurements (the images are noise: the weights are random).
    """
    import tempfile

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    path = Path(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch == "tiny":
            lat = sample_size // 4
            unet = UNet2DConditionModel(sample_size=lat, in_channels=4, out_channels=4, layers_per_block=1,
                                        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                        norm_num_groups=4, attention_head_dim=4)
            vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                                up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 8, 8), latent_channels=4,
                                norm_num_groups=4, sample_size=sample_size)
            text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32,
                                                num_attention_heads=2, num_hidden_layers=2, vocab_size=600, max_position_embeddings=16))
            max_len = 16
        elif arch == "sd15":
            unet = UNet2DConditionModel(sample_size=sample_size // 8 if sample_size != 32 else 64, cross_attention_dim=768)
            vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                                up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2)
            text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=768, intermediate_size=3072,
                                                num_attention_heads=12, num_hidden_layers=12, vocab_size=49408, max_position_embeddings=77))
            max_len = 77
        else:
            raise ConfigError(f"arch: must be tiny or sd15, got {arch!r}")
    with tempfile.TemporaryDirectory() as tmp:
        tok = tiny_clip_tokenizer(tmp, max_len)
        sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(str(path), safe_serialization=True)
    return path


class ImageDiffusion(BaseGenerator):
    """Text-to-image or SDEdit image-to-image with a local diffusers pipeline."""

    modality = "image"
    version = "1"
    short_name = "diffusion"
    crossfit_repeats = 1  # each cross-fitting fold loads the pipeline again: one repeat
    libraries = ("torch", "diffusers", "transformers", "numpy")

    def __init__(self, pipeline: dict | None = None, mode: str = "txt2img", prompt="a photo of a {label}",
                 prompts: dict | None = None, names: dict | None = None, negative_prompt: str | None = None,
                 strength: float = 0.5, steps: int = 30, guidance_scale: float = 7.5, height: int | None = None,
                 width: int | None = None, batch_size: int = 4, output_size=None, device: str = "auto"):
        self.pipeline = plain(pipeline) or {}
        self.mode = mode
        self.prompt = plain(prompt)
        self.prompts = plain(prompts) or {}
        self.names = plain(names) or {}
        self.negative_prompt = negative_prompt
        self.strength = float(strength)
        self.steps = int(steps)
        self.guidance_scale = float(guidance_scale)
        self.height = height
        self.width = width
        self.batch_size = int(batch_size)
        self.output_size = plain(output_size)
        self.device = device

    # -- configuration ---------------------------------------------------------------------------
    def _check(self) -> Path:
        if self.mode not in MODES:
            raise ConfigError(f"generator.mode: must be txt2img or img2img, got {self.mode!r}")
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError(f"generator.strength: must be in (0, 1], got {self.strength}")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("generator.steps/batch_size: must be >= 1")
        if not isinstance(self.pipeline, dict) or not self.pipeline.get("path") or self.pipeline.get("path") == "???":
            raise ConfigError("generator.pipeline.path: missing (a local diffusers pipeline folder, e.g. one written by save_pretrained)")
        unknown = set(self.pipeline) - {"path", "torch_dtype", "variant"}
        if unknown:
            raise ConfigError(f"generator.pipeline.{sorted(unknown)[0]}: unknown key (allowed: path, torch_dtype, variant)")
        p = Path(str(self.pipeline["path"])).expanduser()
        if not (p / "model_index.json").exists():
            raise ConfigError(f"generator.pipeline.path: {p} is not a diffusers pipeline folder (no model_index.json)")
        for k in ("height", "width"):
            v = getattr(self, k)
            if v is not None and (int(v) < 8 or int(v) % 8):
                raise ConfigError(f"generator.{k}: must be a multiple of 8, got {v}")
        for label, t in {"prompt": self.prompt, **{f"prompts.{k}": v for k, v in self.prompts.items()}}.items():
            ts = [t] if isinstance(t, str) else t
            if not ts or not all(isinstance(x, str) for x in ts):
                raise ConfigError(f"generator.{label}: must be a template string or a list of them")
        return p

    def _templates(self, label: str) -> list[str]:
        t = self.prompts.get(label, self.prompt)
        return [t] if isinstance(t, str) else list(t)

    # -- loading ---------------------------------------------------------------------------------
    def fit(self, real=None) -> "ImageDiffusion":
        path = self._check()
        if real is not None and real.task != "classification":
            raise ConfigError(f"generator: image_diffusion makes image-level labels only, but dataset {real.source} is a {real.task} "
                              f"dataset (boxes and masks cannot be carried exactly; use image_copy_paste or image_procedural)")
        self.real_ = real
        import torch
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image, DiffusionPipeline

        if not torch.cuda.is_available():
            torch.set_num_threads(1)
        dev = pick_device(self.device)
        dtype_name = self.pipeline.get("torch_dtype", "auto")
        if dtype_name in (None, "auto"):
            dtype = torch.float16 if dev.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, str(dtype_name), None)
            if not isinstance(dtype, torch.dtype):
                raise ConfigError(f"generator.pipeline.torch_dtype: unknown dtype {dtype_name!r}")
        import importlib.util

        from diffusers.utils import logging as dlog

        extra = {} if importlib.util.find_spec("accelerate") else {"low_cpu_mem_usage": False}
        dlog.disable_progress_bar()
        try:
            from transformers.utils import logging as tlog

            tlog.disable_progress_bar()
        except ImportError:  # pragma: no cover
            tlog = None
        try:
            import warnings

            with warnings.catch_warnings():  # newer diffusers renamed torch_dtype to dtype; older ones only know torch_dtype
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                base = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype,
                                                         variant=self.pipeline.get("variant"), **extra)
        except Exception as e:  # diffusers raises many types for broken folders
            raise ConfigError(f"generator.pipeline.path: cannot load {path} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        finally:
            dlog.enable_progress_bar()
            if tlog is not None:
                tlog.enable_progress_bar()
        try:
            auto = AutoPipelineForImage2Image if self.mode == "img2img" else AutoPipelineForText2Image
            pipe = auto.from_pipe(base)
        except Exception as e:
            raise ConfigError(f"generator.mode: pipeline {type(base).__name__} at {path} has no {self.mode} variant ({str(e).splitlines()[0]})") from None
        pipe = pipe.to(dev)
        pipe.set_progress_bar_config(disable=True)
        self.pipe_ = pipe
        self.device_ = dev
        self.dtype_ = str(dtype).replace("torch.", "")
        self.weights_sha256_ = weights_digest(path)
        scale = getattr(pipe, "vae_scale_factor", 8)
        default = int(pipe.unet.config.sample_size) * scale if hasattr(pipe, "unet") else 512
        hw = None
        if real is not None and len(real.samples):
            shapes = np.array([s.data.shape[:2] for s in real.samples])
            hw = (int(np.median(shapes[:, 0])), int(np.median(shapes[:, 1])))
        if self.mode == "img2img" and hw is not None:
            gen_hw = tuple(max(scale, int(np.ceil(v / scale)) * scale) for v in hw)
        else:
            gen_hw = (default, default)
        self.gen_hw_ = (int(self.height or gen_hw[0]), int(self.width or gen_hw[1]))
        if self.output_size:
            o = self.output_size
            self.out_hw_ = (int(o), int(o)) if isinstance(o, int) else (int(o[0]), int(o[1]))
        else:
            self.out_hw_ = hw or self.gen_hw_
        return self

    # -- generation ------------------------------------------------------------------------------
    def generate(self, label: str, n: int, seed: int, indices: Sequence[int] | None = None) -> Iterator:
        if getattr(self, "pipe_", None) is None:
            raise ConfigError(f"generator {self.short_name}: call fit(real) before generate()")
        return super().generate(label, n, seed, indices)

    def group_size(self) -> int:
        return self.batch_size

    def _plan(self, label: str, seed: int, i: int) -> dict[str, Any]:
        from synthgen.seeding import sample_rng

        rng = sample_rng(seed, label, i)
        ts = self._templates(label)
        prompt = ts[int(rng.integers(len(ts)))].replace("{label}", str(self.names.get(label, label)))
        p: dict[str, Any] = {"prompt": prompt}
        if self.mode == "img2img":
            pool = self.candidates(label)
            p["parent"] = pool[int(rng.integers(len(pool)))]
        return p

    def _make_group(self, label: str, idx: list[int], seed: int) -> list[tuple]:
        import torch
        from PIL import Image

        from synthgen.seeding import torch_generator

        g = idx[0] // self.batch_size
        plans = [self._plan(label, seed, i) for i in idx]
        gens = [torch_generator(seed, label, i) for i in idx]
        h, w = self.gen_hw_
        kw: dict[str, Any] = {"prompt": [p["prompt"] for p in plans], "num_inference_steps": self.steps,
                              "guidance_scale": self.guidance_scale, "generator": gens, "output_type": "np"}
        if self.negative_prompt:
            kw["negative_prompt"] = [self.negative_prompt] * len(idx)
        if self.mode == "img2img":
            kw["image"] = [Image.fromarray(np.asarray(p["parent"].data)[:, :, :3]).resize((w, h), Image.BICUBIC) for p in plans]
            kw["strength"] = self.strength
        else:
            kw["height"], kw["width"] = h, w
        with torch.no_grad():
            out = self.pipe_(**kw).images
        oh, ow = self.out_hw_
        res = []
        for a, p in zip(np.asarray(out), plans):
            img = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
            if img.shape[:2] != (oh, ow):
                img = np.asarray(Image.fromarray(img).resize((ow, oh), Image.BICUBIC))
            res.append(self._one(np.ascontiguousarray(img), p, g))
        return res

    def _one(self, img: np.ndarray, p: dict[str, Any], g: int) -> tuple:
        params = {"mode": self.mode, "prompt": p["prompt"], "negative_prompt": self.negative_prompt, "steps": self.steps,
                  "guidance_scale": self.guidance_scale, "size": list(self.gen_hw_), "weights_sha256": self.weights_sha256_,
                  "pipeline": type(self.pipe_).__name__, "device": self.device_, "dtype": self.dtype_,
                  "group": [g, self.batch_size]}
        parents = []
        if self.mode == "img2img":
            params["strength"] = self.strength
            params["parent"] = p["parent"].id
            parents = [p["parent"].id]
        return img, {}, parents, params
