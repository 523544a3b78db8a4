"""``generator=points_mesh``: labeled point clouds sampled from meshes (classification sets).

Each class is a shape spec (see :func:`synthgen.generators.points.geometry.build_shape`): an open3d
primitive (box, sphere, cylinder, cone, torus) with parameter ranges, a composite of primitives, or a
folder of the user's meshes (.ply/.obj/.off/.stl).  Sample ``i`` of class ``c`` draws, from
``sample_rng(seed, c, i)`` only: the shape parameters (or which user mesh), a scale, an anisotropic
stretch, a pose, the surface points (uniform or Poisson-disk, in numpy so the sample owns its RNG),
optional Gaussian noise and, with probability ``partial``, a viewpoint for hidden-point removal (a
partial scan).

``normalize: true`` applies the ModelNet convention: centred, unit sphere, exactly ``n_points``
points.

``geometry: fitted`` (``auto``: whenever the real data holds clouds of the class; the default is
``ranges``, measured better for held-out recall with few real meshes) replaces the hand-set
proportions by the real class's own: each sample draws a real cloud of its
class as its parent (recorded in the provenance, so cross-fitting keeps it outside the fold it is
judged on) and stretches the primitive along its principal axes until their spreads (square roots
of the surface covariance eigenvalues, largest first) have the parent's ratios, the two shorter ones
times a log-normal jitter of ``geometry_jitter``; the shape's own size ranges and ``stretch`` then
only set the starting mesh.  Aspect ratios are what survives the unit-sphere normalisation, so this
fits the geometry a classifier sees.

Annotations: ``point_labels`` (every point carries the class index in ``classes``), ``instance_ids``
(all 0: one object per cloud), ``boxes3d`` (one box around the cloud), optional ``normals``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError, InsufficientDataError

from ..base import BaseGenerator
from . import geometry as G

ROTATIONS = ("none", "z", "so3")
GEOMETRY = ("auto", "ranges", "fitted")
MIN_RATIO = 0.01  # the thinnest fitted axis, relative to the longest


def principal_spreads(points: np.ndarray, cov: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(spreads, axes)``: the square roots of the covariance eigenvalues of ``points`` (or of ``cov``),
    largest first, and the matching unit axes as columns (a rotation)."""
    if cov is None:
        x = np.asarray(points, np.float64)
        cov = np.cov((x - x.mean(axis=0)).T)
    w, vec = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1]
    vec = vec[:, order]
    if np.linalg.det(vec) < 0:  # a rotation, never a reflection: triangles keep their orientation
        vec[:, 2] = -vec[:, 2]
    return np.sqrt(np.maximum(w[order], 0.0)), vec


class MeshGenerator(BaseGenerator):
    modality = "points"
    version = "2"  # 2: geometry fitted/auto (proportions fitted to real parents)
    short_name = "mesh"
    libraries = ("numpy", "scipy", "open3d-cpu")

    def __init__(self, shapes: dict[str, Any], n_points: int = 2048, sampling: str = "uniform",
                 scale: Any = (0.8, 1.2), stretch: Any = (1.0, 1.0), rotation: str = "z", noise_std: float = 0.0,
                 normals: bool = False, partial: float = 0.0, hpr_radius: float = 100.0, normalize: bool = True,
                 base_dir: str | None = None, geometry: str = "ranges", geometry_jitter: float = 0.05):
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
        self.geometry = str(geometry)
        self.geometry_jitter = float(geometry_jitter)

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
        if self.geometry not in GEOMETRY:
            raise ConfigError(f"generator.geometry: must be one of {', '.join(GEOMETRY)}, got {self.geometry!r}")
        if self.geometry_jitter < 0:
            raise ConfigError(f"generator.geometry_jitter: must be >= 0, got {self.geometry_jitter}")

    def fit(self, real):
        self._check()
        super().fit(real)
        self.classes_ = list(real.classes) if real is not None else sorted(self.shapes)
        self._ratios = {}
        return self

    def guide(self, guidance):
        self.__dict__.pop("_ratios", None)  # parents are drawn with the new multiplicities
        return super().guide(guidance)

    def _usable(self, label: str) -> list[tuple[str, np.ndarray]]:
        """``(id, principal spreads / the largest)`` of the real clouds of ``label`` that have a shape (4+
        points, non-zero spread), in draw order (model-guided multiplicities included)."""
        cache = self.__dict__.setdefault("_ratios", {})
        if label not in cache:
            real = getattr(self, "real_", None)
            out = []
            if real is not None and any(s.label == label for s in real.samples):
                for s in self.candidates(label):
                    pts = np.asarray(s.data, np.float64)
                    pts = pts.reshape(-1, pts.shape[-1])[:, :3] if pts.ndim >= 2 and pts.shape[-1] >= 3 else np.zeros((0, 3))
                    if len(pts) < 4:
                        continue
                    sp, _ = principal_spreads(pts)
                    if sp[0] > 1e-9:
                        out.append((s.id, sp / sp[0]))
            cache[label] = out
        return cache[label]

    def _fitted(self, label: str) -> bool:
        """``fitted``: always (a class without a usable real cloud is INCOMPUTABLE); ``auto``: when the
        real data holds a usable cloud of ``label``; ``ranges``: never."""
        if self.geometry == "ranges":
            return False
        if self._usable(label):
            return True
        if self.geometry == "fitted":
            raise InsufficientDataError(f"class '{label}': geometry: fitted needs real clouds of the class with "
                                        "4+ points and some spread, found none")
        return False

    def _parent_ratios(self, label: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        usable = self._usable(label)
        return usable[int(rng.integers(len(usable)))]

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
        parents: list[str] = []
        fitted: dict[str, Any] = {}
        if self._fitted(label):  # the parent's proportions along the primitive's principal axes
            v = v * st
            pid, ratios = self._parent_ratios(label, rng)
            # jitter the two ratios, not the longest axis (renormalising by a jittered maximum would
            # shrink every ratio); a flat or thin parent keeps a sliver of thickness: a mesh needs area
            target = ratios.copy()
            if self.geometry_jitter:
                target[1:] *= np.exp(rng.normal(0.0, self.geometry_jitter, 2))
            target = np.maximum(np.sort(np.minimum(target, 1.0))[::-1], MIN_RATIO)
            # the mesh's exact surface covariance; stretching moves area between faces, so a spread does
            # not scale exactly with its axis: a few fixed-point corrections converge
            for _ in range(8):
                mean, cov = G.surface_covariance(v, t)
                sp, axes = principal_spreads(None, cov)
                gain = target * sp[0] / np.maximum(sp, 1e-12)
                v = ((v - mean) @ axes) * gain
                if np.max(np.abs(gain - 1.0)) < 1e-4:
                    break
            st = np.ones(3)
            parents = [pid]
            fitted = {"parent_ratios": np.round(ratios, 5).tolist(), "target_ratios": np.round(target / target[0], 5).tolist()}
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
        if fitted:
            params["geometry"] = fitted
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
        return pts, ann, parents, params
