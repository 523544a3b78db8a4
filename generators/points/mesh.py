"""``generator=points_mesh``: labeled point clouds sampled from meshes (classification sets).

Each class is a shape spec (see :func:`synthgen.generators.points.geometry.build_shape`): an open3d
primitive (box, sphere, cylinder, cone, torus) with parameter ranges, a composite of primitives, or a
folder of the user's meshes (.ply/.obj/.off/.stl).  Sample ``i`` of class ``c`` draws, from
``sample_rng(seed, c, i)`` only: the shape parameters (or which user mesh), a scale, an anisotropic
stretch, a pose, the surface points (uniform or Poisson-disk, in numpy so the sample owns its RNG),
optional Gaussian noise and, with probability ``partial``, a viewpoint for hidden-point removal (a
partial scan).  ``normalize: true`` applies the ModelNet convention: centred, unit sphere, exactly
``n_points`` points.

Annotations: ``point_labels`` (every point carries the class index in ``classes``), ``instance_ids``
(all 0: one object per cloud), ``boxes3d`` (one box around the cloud), optional ``normals``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError

from ..base import BaseGenerator
from . import geometry as G

ROTATIONS = ("none", "z", "so3")


class MeshGenerator(BaseGenerator):
    modality = "points"
    version = "1"
    short_name = "mesh"
    libraries = ("numpy", "scipy", "open3d-cpu")

    def __init__(self, shapes: dict[str, Any], n_points: int = 2048, sampling: str = "uniform",
                 scale: Any = (0.8, 1.2), stretch: Any = (1.0, 1.0), rotation: str = "z", noise_std: float = 0.0,
                 normals: bool = False, partial: float = 0.0, hpr_radius: float = 100.0, normalize: bool = True,
                 base_dir: str | None = None):
        self.shapes = plain(shapes)
        self.n_points = int(n_points)
        self.sampling = str(sampling)
        self.scale = plain(scale)
        self.stretch = plain(stretch)
        self.rotation = str(rotation)
        self.noise_std = float(noise_std)
        self.normals = bool(normals)
        self.partial = float(partial)
        self.hpr_radius = float(hpr_radius)
        self.normalize = bool(normalize)
        self.base_dir = base_dir

    def _check(self) -> None:
        if not isinstance(self.shapes, dict) or not self.shapes:
            raise ConfigError("generator.shapes: must map each class to a shape spec")
        if self.n_points < 1:
            raise ConfigError(f"generator.n_points: must be >= 1, got {self.n_points}")
        if self.rotation not in ROTATIONS:
            raise ConfigError(f"generator.rotation: must be one of {', '.join(ROTATIONS)}, got {self.rotation!r}")
        if self.sampling not in ("uniform", "poisson"):
            raise ConfigError(f"generator.sampling: must be 'uniform' or 'poisson', got {self.sampling!r}")
        if not 0.0 <= self.partial <= 1.0:
            raise ConfigError(f"generator.partial: a probability in [0, 1], got {self.partial}")
        if self.noise_std < 0:
            raise ConfigError(f"generator.noise_std: must be >= 0, got {self.noise_std}")

    def fit(self, real):
        self._check()
        self.real_ = real
        self.classes_ = list(real.classes) if real is not None else sorted(self.shapes)
        return self

    def _classes(self) -> list[str]:
        return getattr(self, "classes_", None) or sorted(self.shapes)

    def _make(self, label: str, index: int, rng: np.random.Generator, seed: int):
        self._check()
        if label not in self.shapes:
            raise ConfigError(f"generator.shapes: no shape for class '{label}' (have: {', '.join(sorted(self.shapes))})")
        v, t, shape_params = G.build_shape(self.shapes[label], rng, f"generator.shapes.{label}", self.base_dir)
        v = v - (v.min(axis=0) + v.max(axis=0)) / 2.0
        s = G.draw(self.scale, rng, "generator.scale")
        st = np.array([G.draw(self.stretch, rng, "generator.stretch") for _ in range(3)])
        if self.rotation == "z":
            yaw = float(rng.uniform(0.0, 2.0 * math.pi))
            R = G.rotation_z(yaw)
        elif self.rotation == "so3":
            R, yaw = G.random_rotation(rng), 0.0
        else:
            R, yaw = np.eye(3), 0.0
        # stretch in the shape's frame, then rotate: the stretch axes follow the object
        A = R @ np.diag(s * st)
        v = v @ A.T
        partial = bool(self.partial > 0 and rng.random() < self.partial)
        k = self.n_points * (3 if partial else 1)
        pts, nrm = G.sample_surface(v, t, k, rng, self.sampling)
        # normals transform with the inverse transpose of the linear map
        nrm = nrm @ np.linalg.inv(A)
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        params: dict[str, Any] = {"shape": shape_params, "scale": round(s, 5), "stretch": np.round(st, 5).tolist(),
                                  "rotation": self.rotation, "yaw": round(yaw, 5), "partial": partial}
        if partial:
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            radius = float(np.linalg.norm(pts, axis=1).max())
            cam = d * radius * 3.0
            vis = G.hidden_point_removal(pts, cam, self.hpr_radius)
            pts, nrm = pts[vis], nrm[vis]
            idx = G.resample(len(pts), self.n_points, rng)
            pts, nrm = pts[idx], nrm[idx]
            params["viewpoint"] = np.round(d, 5).tolist()
        if self.noise_std > 0:
            pts = pts + rng.normal(scale=self.noise_std, size=pts.shape)
        if self.normalize:
            pts, _, _ = G.normalize_unit_sphere(pts)
        pts = pts.astype(np.float32)
        lo, hi = pts.min(axis=0).astype(np.float64), pts.max(axis=0).astype(np.float64)
        classes = self._classes()
        cls_idx = classes.index(label) if label in classes else -1
        ann: dict[str, Any] = {
            "point_labels": np.full(len(pts), cls_idx, dtype=np.int32),
            "instance_ids": np.zeros(len(pts), dtype=np.int32),
            "label_names": list(classes),
            "boxes3d": [{"category": label, "center": ((lo + hi) / 2).tolist(), "size": (hi - lo + 2e-4).tolist(),
                         "yaw": 0.0, "instance_id": 0, "num_points": int(len(pts))}],
        }
        if self.normals:
            ann["normals"] = nrm.astype(np.float32)
        return pts, ann, [], params
