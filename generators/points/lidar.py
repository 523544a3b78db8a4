"""``generator=points_lidar``: a spinning-LiDAR simulator over a ground plane and placed objects.

The sensor (``sensor:``) has ``beams`` lasers spread evenly over the vertical field of view
``[fov_down, fov_up]`` (degrees), fires every ``azimuth_resolution`` degrees over 360, keeps hits
between ``min_range`` and ``max_range`` metres, adds range noise (Gaussian, clipped to +-
``box_margin`` / 2 so a hit never leaves its object's box) and drops each return with probability
``dropout``.  Rays are cast with open3d's ``RaycastingScene`` (headless, CPU).

A scene for class ``c`` holds ``min_of_label`` objects of ``c`` (the rare class) plus others drawn
from ``background_classes``, each a shape spec (primitives or composites, in metres, see
:func:`geometry.build_shape`) standing on the ground at a random position and heading, placed
without bird's-eye-view collisions (``clearance`` metres apart).

Output, in the sensor frame (x forward, y left, z up; the ground is at ``z = -sensor.height``):
``data`` (N, 3) float32; ``point_labels`` (index into ``label_names``, 0 = ground); ``instance_ids``
(-1 for the ground); ``intensity`` = reflectivity x |cos(incidence angle)|; ``boxes3d`` with centre,
size (l, w, h), yaw, instance id and the number of points that hit the object.  A box is the
object's oriented extent grown by ``box_margin`` on every side; ground points that fall inside a box
(within the margin under the object) are removed, so every box holds exactly the points labeled
with its instance.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError

from ..base import BaseGenerator
from . import geometry as G

DEFAULT_SENSOR = {"beams": 32, "fov_up": 10.0, "fov_down": -30.0, "azimuth_resolution": 0.4, "min_range": 1.0,
                  "max_range": 70.0, "range_noise": 0.01, "dropout": 0.0, "height": 1.8}

DEFAULT_OBJECTS = {
    "car": {"parts": [{"primitive": "box", "width": [3.8, 4.6], "height": [1.6, 1.9], "depth": [0.8, 1.0]},
                      {"primitive": "box", "width": [2.0, 2.4], "height": [1.4, 1.6], "depth": [0.5, 0.6],
                       "offset": [-0.2, 0.0, 0.7]}]},
    "pedestrian": {"parts": [{"primitive": "cylinder", "radius": [0.18, 0.25], "height": [1.3, 1.6]},
                             {"primitive": "sphere", "radius": [0.1, 0.13], "offset": [0.0, 0.0, 0.9]}]},
    "cyclist": {"parts": [{"primitive": "box", "width": [1.6, 1.8], "height": [0.1, 0.15], "depth": [0.8, 1.0]},
                          {"primitive": "cylinder", "radius": [0.18, 0.22], "height": [0.7, 0.9], "offset": [0.0, 0.0, 0.8]}]},
    "traffic_cone": {"primitive": "cone", "radius": [0.15, 0.25], "height": [0.6, 0.9]},
}


def _merge_sensor(sensor: dict[str, Any] | None) -> dict[str, float]:
    s = dict(DEFAULT_SENSOR)
    for k, v in (sensor or {}).items():
        if k not in DEFAULT_SENSOR:
            raise ConfigError(f"generator.sensor.{k}: unknown key (known: {', '.join(DEFAULT_SENSOR)})")
        s[k] = v
    s["beams"] = int(s["beams"])
    for k in DEFAULT_SENSOR:
        if k != "beams":
            s[k] = float(s[k])
    if s["beams"] < 1:
        raise ConfigError("generator.sensor.beams: must be >= 1")
    if not s["fov_down"] < s["fov_up"]:
        raise ConfigError("generator.sensor.fov_down: must be below fov_up")
    if s["azimuth_resolution"] <= 0 or s["azimuth_resolution"] > 90:
        raise ConfigError("generator.sensor.azimuth_resolution: must be in (0, 90] degrees")
    if not 0 < s["min_range"] < s["max_range"]:
        raise ConfigError("generator.sensor.max_range: must exceed min_range > 0")
    if not 0.0 <= s["dropout"] < 1.0:
        raise ConfigError("generator.sensor.dropout: a probability in [0, 1)")
    if s["range_noise"] < 0 or s["height"] <= 0:
        raise ConfigError("generator.sensor.range_noise/height: must be >= 0 / > 0")
    return s


@functools.lru_cache(maxsize=8)
def _rays(key: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(directions, float32 rays from the sensor origin, origin) of a sensor, computed once per
    process (``key``: the sensor's sorted items); read-only."""
    sensor = dict(key)
    dirs = ray_directions(sensor)
    origin = np.array([0.0, 0.0, sensor["height"]])
    rays = np.concatenate([np.broadcast_to(origin, dirs.shape), dirs], axis=1).astype(np.float32)
    for a in (dirs, rays, origin):
        a.setflags(write=False)
    return dirs, rays, origin


def ray_directions(sensor: dict[str, float]) -> np.ndarray:
    """(beams * n_azimuth, 3) unit directions, beam-major (row = beam from top to bottom)."""
    el = np.radians(np.linspace(sensor["fov_up"], sensor["fov_down"], int(sensor["beams"])))
    n_az = int(round(360.0 / sensor["azimuth_resolution"]))
    az = np.radians(np.arange(n_az) * (360.0 / n_az))
    E, A = np.meshgrid(el, az, indexing="ij")
    d = np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], axis=-1)
    return d.reshape(-1, 3)


def object_mesh(spec: dict[str, Any], rng: np.random.Generator, key: str):
    """A shape standing on z = 0, centred in x/y; returns (vertices, triangles, params, (l, w, h))."""
    v, t, params = G.build_shape(spec, rng, key)
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = v - np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    return v, t, params, (hi - lo)


class LidarGenerator(BaseGenerator):
    modality = "points"
    version = "1"
    short_name = "lidar"
    libraries = ("numpy", "open3d-cpu")

    def __init__(self, objects: dict[str, Any] | None = None, sensor: dict[str, Any] | None = None,
                 background_classes: list[str] | None = None, n_objects: Any = (3, 8), min_of_label: int = 1,
                 placement_range: Any = (4.0, 30.0), clearance: float = 0.5, box_margin: float = 0.05,
                 reflectivity: dict[str, float] | None = None, ground_reflectivity: float = 0.3, ground_size: float = 200.0,
                 max_tries: int = 200):
        self.objects = plain(objects) if objects is not None else None
        self.sensor = plain(sensor) if sensor is not None else None
        self.background_classes = plain(background_classes) if background_classes is not None else None
        self.n_objects = plain(n_objects)
        self.min_of_label = int(min_of_label)
        self.placement_range = plain(placement_range)
        self.clearance = float(clearance)
        self.box_margin = float(box_margin)
        self.reflectivity = plain(reflectivity) if reflectivity is not None else None
        self.ground_reflectivity = float(ground_reflectivity)
        self.ground_size = float(ground_size)
        self.max_tries = int(max_tries)

    # -- config ---------------------------------------------------------------------------------
    def object_specs(self) -> dict[str, Any]:
        objs = self.objects if self.objects is not None else DEFAULT_OBJECTS
        if not isinstance(objs, dict) or not objs:
            raise ConfigError("generator.objects: must map each object class to a shape spec")
        return objs

    def label_names(self) -> list[str]:
        return ["ground"] + list(self.object_specs())

    def sensor_config(self) -> dict[str, float]:
        return _merge_sensor(self.sensor)

    # -- one scene ------------------------------------------------------------------------------
    def place_objects(self, label: str, rng: np.random.Generator) -> list[dict[str, Any]]:
        specs = self.object_specs()
        if label not in specs:
            raise ConfigError(f"generator.objects: no object shape for class '{label}' (have: {', '.join(specs)})")
        bg = self.background_classes if self.background_classes is not None else list(specs)
        for c in bg:
            if c not in specs:
                raise ConfigError(f"generator.background_classes: '{c}' is not in generator.objects")
        lo_n, hi_n = (self.n_objects if isinstance(self.n_objects, (list, tuple)) else (self.n_objects, self.n_objects))
        n = int(rng.integers(int(lo_n), int(hi_n) + 1))
        n = max(n, self.min_of_label)
        cats = [label] * self.min_of_label + [str(bg[int(rng.integers(len(bg)))]) for _ in range(n - self.min_of_label)] if bg else [label] * n
        r0, r1 = (float(x) for x in self.placement_range)
        placed: list[dict[str, Any]] = []
        for j, cat in enumerate(cats):
            v, t, params, ext = object_mesh(specs[cat], rng, f"generator.objects.{cat}")
            size = (np.asarray(ext) + 2 * self.box_margin).tolist()
            for _ in range(self.max_tries):
                r = math.sqrt(rng.uniform(r0 * r0, r1 * r1))
                phi = rng.uniform(0.0, 2.0 * math.pi)
                yaw = float(rng.uniform(-math.pi, math.pi))
                cx, cy = r * math.cos(phi), r * math.sin(phi)
                box = {"center": [cx, cy, float(ext[2]) / 2.0], "size": size, "yaw": yaw}
                if all(not G.bev_overlap(box, p["box"], self.clearance) for p in placed):
                    break
            else:
                if cat == label and j < self.min_of_label:
                    raise ConfigError(f"generator.placement_range: cannot place a '{cat}' without collisions after {self.max_tries} tries")
                continue
            world = v @ G.rotation_z(yaw).T + np.array([cx, cy, 0.0])
            placed.append({"category": cat, "vertices": world, "triangles": t, "box": box, "params": params})
        return placed

    def scan(self, placed: list[dict[str, Any]], rng: np.random.Generator | None, sensor: dict[str, float]):
        """Cast the sensor's rays at the ground plus the placed objects.

        Returns (points in the sensor frame, semantic labels, instance ids, intensity, boxes).
        ``rng=None`` gives a noise-free, dropout-free scan.
        """
        import open3d as o3d

        names = self.label_names()
        scene = o3d.t.geometry.RaycastingScene()
        g = self.ground_size
        gv = np.array([[-g, -g, 0], [g, -g, 0], [g, g, 0], [-g, g, 0]], dtype=np.float32)
        gt = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)
        scene.add_triangles(o3d.core.Tensor(gv), o3d.core.Tensor(gt))
        geo_to_obj = {}
        for j, p in enumerate(placed):
            gid_j = scene.add_triangles(o3d.core.Tensor(p["vertices"].astype(np.float32)),
                                        o3d.core.Tensor(p["triangles"].astype(np.uint32)))
            geo_to_obj[int(gid_j)] = j
        dirs, rays, origin = _rays(tuple(sorted(sensor.items())))
        ans = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)
        t_hit = ans["t_hit"].numpy().astype(np.float64)
        geo = ans["geometry_ids"].numpy().astype(np.int64)
        nrm = ans["primitive_normals"].numpy().astype(np.float64)
        ok = np.isfinite(t_hit) & (t_hit >= sensor["min_range"]) & (t_hit <= sensor["max_range"])
        idx = np.flatnonzero(ok)
        t_hit, geo, nrm, d = t_hit[idx], geo[idx], nrm[idx], dirs[idx]
        if rng is not None:
            if sensor["dropout"] > 0:
                keep = rng.random(len(idx)) >= sensor["dropout"]
                t_hit, geo, nrm, d = t_hit[keep], geo[keep], nrm[keep], d[keep]
            if sensor["range_noise"] > 0:
                clip = self.box_margin / 2.0
                t_hit = t_hit + np.clip(rng.normal(scale=sensor["range_noise"], size=len(t_hit)), -clip, clip)
        pts = origin + d * t_hit[:, None]
        inst = np.full(len(pts), -1, dtype=np.int32)
        sem = np.zeros(len(pts), dtype=np.int32)
        refl = np.full(len(pts), self.ground_reflectivity)
        rmap = self.reflectivity or {}
        for gid_j, j in geo_to_obj.items():
            m = geo == gid_j
            inst[m] = j
            sem[m] = names.index(placed[j]["category"])
            refl[m] = float(rmap.get(placed[j]["category"], 0.5))
        cos_inc = np.abs(np.einsum("ij,ij->i", nrm, d))
        intensity = np.clip(refl * cos_inc, 0.0, 1.0)
        # ground points inside an object's box (the margin under it) are hidden by the object: drop them
        drop = np.zeros(len(pts), dtype=bool)
        for j, p in enumerate(placed):
            b = p["box"]
            # only points within the box's bounding square can be inside it: test those exactly
            r = math.hypot(b["size"][0] / 2.0 + 1e-3, b["size"][1] / 2.0 + 1e-3) + 1e-6
            near = np.flatnonzero((np.abs(pts[:, 0] - b["center"][0]) <= r) & (np.abs(pts[:, 1] - b["center"][1]) <= r))
            inside = G.points_in_box(pts[near], b["center"], b["size"], b["yaw"], eps=1e-3) & (inst[near] != j)
            drop[near[inside]] = True
        keep = ~drop
        pts, sem, inst, intensity = pts[keep], sem[keep], inst[keep], intensity[keep]
        pts = pts - origin  # sensor frame
        boxes = []
        for j, p in enumerate(placed):
            b = p["box"]
            c = np.asarray(b["center"]) - origin
            boxes.append({"category": p["category"], "center": c.tolist(), "size": list(b["size"]), "yaw": b["yaw"],
                          "instance_id": j, "num_points": int((inst == j).sum())})
        return pts.astype(np.float32), sem, inst, intensity.astype(np.float32), boxes

    def _make(self, label: str, index: int, rng: np.random.Generator, seed: int):
        sensor = self.sensor_config()
        placed = self.place_objects(label, rng)
        pts, sem, inst, intensity, boxes = self.scan(placed, rng, sensor)
        ann = {"point_labels": sem, "instance_ids": inst, "intensity": intensity, "boxes3d": boxes,
               "label_names": self.label_names()}
        params = {"objects": [{"category": p["category"], "center": np.round(p["box"]["center"], 4).tolist(),
                               "yaw": round(p["box"]["yaw"], 5), "shape": p["params"]} for p in placed],
                  "sensor": sensor}
        return pts, ann, [], params


def simulated_scans(counts: dict[str, int], seed: int = 0, **generator_kwargs: Any):
    """A stand-in for real LiDAR scans: ``counts[c]`` scenes whose designated class is ``c``.

    Used as the "real" scans of the LiDAR experiment and tests (there is no real LiDAR data in the
    installed packages); its seed stream ("real-scans") is separate from any generator's.
    """
    from synthgen.dataset import Dataset
    from synthgen.sample import Sample

    from synthgen.seeding import derived_seed

    gen = LidarGenerator(**generator_kwargs)
    stream = derived_seed(int(seed), "real-scans")
    samples = []
    for c, n in plain(counts).items():
        for i, s in enumerate(gen.generate(str(c), int(n), stream)):
            samples.append(Sample(id=f"scan-{c}-{i:04d}", data=s.data, label=str(c), annotations=s.annotations,
                                  modality="points", meta={"file": f"scan-{c}-{i:04d}"}))
    classes = list(gen.object_specs())
    return Dataset(samples, [c for c in classes if c in {s.label for s in samples}] or classes,
                   f"simulated-lidar(seed={seed})", "kitti", "points", "detection",
                   {"label_names": gen.label_names()})
