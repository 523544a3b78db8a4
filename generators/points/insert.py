"""``generator=points_insert``: ground-truth sampling (SECOND, OpenPCDet) of rare objects into real scans.

``fit(real)`` collects a pool of object clouds from the real scans: for each 3D box, the points
labeled with its instance (at least ``pool_min_points``).  Sample ``i`` of class ``c`` takes a base
scan chosen by its own RNG and inserts ``n_insert`` objects of ``c``:

1. An object from the pool (or, for classes listed in ``meshes``, a mesh ray-cast with ``sensor``)
   is turned about the sensor's vertical axis by a random angle (``rotate``), so its range, the angle
   it is seen from and its point density stay physically consistent, and lifted or lowered so it
   stands on the base scan's ground (median height of ground points near it).
2. It must not overlap an existing or already inserted box in bird's-eye view (``clearance``), and
   no non-ground point of the scan may lie inside it (walls, unlabeled clutter).
3. Occlusion on a range image (bins of ``angular_resolution`` degrees, azimuth x elevation): scan
   points behind the object are removed; object points behind scan points are removed.  An object
   left with fewer than ``min_points`` points is rejected and another placement is tried.
4. Scan points inside the new box are removed; boxes of existing objects get their new point counts,
   and an existing object whose points are all hidden loses its box.  New points get the class's
   semantic index in the scan's ``label_names`` and a fresh instance id.

Every box holds exactly the points labeled with its instance afterwards (tested over many scenes).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError, DatasetError, InsufficientDataError

from ..base import BaseGenerator
from . import geometry as G


def _ground_z(points: np.ndarray, ground: np.ndarray, xy, radius: float = 3.0) -> float | None:
    g = points[ground]
    if len(g) == 0:
        return None
    d = np.hypot(g[:, 0] - xy[0], g[:, 1] - xy[1])
    near = g[d <= radius]
    if len(near) < 3:
        near = g[np.argsort(d)[: 20]]
    return float(np.median(near[:, 2]))


def _spherical(points: np.ndarray):
    r = np.linalg.norm(points, axis=1)
    az = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    el = np.degrees(np.arcsin(np.clip(points[:, 2] / np.maximum(r, 1e-9), -1, 1)))
    return r, az, el


class InsertGenerator(BaseGenerator):
    modality = "points"
    version = "1"
    short_name = "insert"
    libraries = ("numpy", "open3d-cpu")

    def __init__(self, n_insert: Any = (1, 2), rotate: bool = True, clearance: float = 0.5, min_points: int = 5,
                 pool_min_points: int = 10, angular_resolution: Any = (0.5, 1.0), ground_label: str = "ground",
                 max_tries: int = 50, meshes: dict[str, Any] | None = None, sensor: dict[str, Any] | None = None,
                 mesh_range: Any = (5.0, 25.0)):
        self.n_insert = plain(n_insert)
        self.rotate = bool(rotate)
        self.clearance = float(clearance)
        self.min_points = int(min_points)
        self.pool_min_points = int(pool_min_points)
        self.angular_resolution = plain(angular_resolution)
        self.ground_label = str(ground_label)
        self.max_tries = int(max_tries)
        self.meshes = plain(meshes) if meshes is not None else None
        self.sensor = plain(sensor) if sensor is not None else None
        self.mesh_range = plain(mesh_range)

    # -- pool -----------------------------------------------------------------------------------
    def fit(self, real):
        if real.modality != "points":
            raise ConfigError(f"generator: points_insert needs point-cloud scans, dataset {real.source} holds {real.modality}")
        scenes, pool = [], {}
        for s in real.samples:
            ann = s.annotations
            if "instance_ids" not in ann or "boxes3d" not in ann:
                raise DatasetError(f"{real.source}: sample {s.id} has no instance_ids/boxes3d (points_insert needs labeled scans)")
            pts = np.asarray(s.data, dtype=np.float64)
            inst = np.asarray(ann["instance_ids"])
            scenes.append(s)
            for b in ann["boxes3d"]:
                m = inst == int(b["instance_id"])
                if m.sum() < self.pool_min_points:
                    continue
                pool.setdefault(b["category"], []).append({
                    "points": pts[m], "intensity": None if ann.get("intensity") is None else np.asarray(ann["intensity"])[m],
                    "box": {k: b[k] for k in ("center", "size", "yaw")}, "scene": s.id,
                    "ground": _ground_z(pts, self._ground_mask(ann, len(pts)), b["center"][:2]),
                })
        if not scenes:
            raise DatasetError(f"{real.source}: no scans to insert objects into")
        self.real_ = real
        self.scenes_ = scenes
        self.pool_ = pool
        return self

    def _ground_mask(self, ann: dict, n: int) -> np.ndarray:
        names = list(ann.get("label_names") or [])
        if self.ground_label in names and "point_labels" in ann:
            return np.asarray(ann["point_labels"]) == names.index(self.ground_label)
        return np.asarray(ann["instance_ids"]) < 0

    def _check_label(self, label: str) -> None:
        if not getattr(self, "scenes_", None):
            raise ConfigError("generator points_insert: call fit(real) before generate()")
        if not self.pool_.get(label) and not (self.meshes and label in self.meshes):
            raise InsufficientDataError(
                f"class '{label}': no real object with >= {self.pool_min_points} points to sample and no generator.meshes entry for it")

    # -- candidates -----------------------------------------------------------------------------
    def _from_pool(self, label: str, rng: np.random.Generator):
        pool = self.pool_.get(label) or []
        use_mesh = bool(self.meshes and label in self.meshes) and (not pool or rng.random() < 0.5)
        if not use_mesh:
            o = pool[int(rng.integers(len(pool)))]
            return o["points"], o["intensity"], dict(o["box"]), o["ground"], o["scene"], None
        return self._from_mesh(label, rng)

    def _from_mesh(self, label: str, rng: np.random.Generator):
        import open3d as o3d

        from .lidar import _merge_sensor, object_mesh, ray_directions

        sensor = _merge_sensor(self.sensor)
        v, t, params, ext = object_mesh(self.meshes[label], rng, f"generator.meshes.{label}")
        r0, r1 = (float(x) for x in self.mesh_range)
        r = rng.uniform(r0, r1)
        phi, yaw = rng.uniform(0, 2 * math.pi), float(rng.uniform(-math.pi, math.pi))
        ground = -sensor["height"]
        world = v @ G.rotation_z(yaw).T + np.array([r * math.cos(phi), r * math.sin(phi), ground])
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(world.astype(np.float32)), o3d.core.Tensor(t.astype(np.uint32)))
        d = ray_directions(sensor)
        rays = np.concatenate([np.zeros_like(d), d], axis=1).astype(np.float32)
        ans = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)
        th = ans["t_hit"].numpy().astype(np.float64)
        ok = np.isfinite(th)
        pts = d[ok] * th[ok, None]
        nrm = ans["primitive_normals"].numpy()[ok]
        inten = np.clip(0.5 * np.abs(np.einsum("ij,ij->i", nrm, d[ok])), 0, 1)
        margin = 0.05
        box = {"center": [r * math.cos(phi), r * math.sin(phi), ground + float(ext[2]) / 2],
               "size": (np.asarray(ext) + 2 * margin).tolist(), "yaw": yaw}
        return pts, inten, box, ground, None, {"mesh": params}

    # -- one sample -----------------------------------------------------------------------------
    def _make(self, label: str, index: int, rng: np.random.Generator, seed: int):
        self._check_label(label)
        base = self.scenes_[int(rng.integers(len(self.scenes_)))]
        ann0 = base.annotations
        pts = np.asarray(base.data, dtype=np.float64)
        n0 = len(pts)
        names = list(ann0.get("label_names") or [])
        sem = np.asarray(ann0.get("point_labels", np.zeros(n0)), dtype=np.int32).copy()
        inst = np.asarray(ann0["instance_ids"], dtype=np.int32).copy()
        inten = None if ann0.get("intensity") is None else np.asarray(ann0["intensity"], dtype=np.float32).copy()
        boxes = [dict(b) for b in ann0["boxes3d"]]
        ground_mask = self._ground_mask(ann0, n0)
        if label not in names:
            names.append(label)
        lab_idx = names.index(label)
        lo_n, hi_n = self.n_insert if isinstance(self.n_insert, (list, tuple)) else (self.n_insert, self.n_insert)
        want = int(rng.integers(int(lo_n), int(hi_n) + 1))
        next_id = max([int(b["instance_id"]) for b in boxes] + [int(inst.max()) if len(inst) else -1, -1]) + 1
        az_res, el_res = (float(x) for x in self.angular_resolution)
        inserted, parents = [], [base.id]
        for _ in range(want):
            for _try in range(self.max_tries):
                opts, oint, box, g_src, src_id, mesh_info = self._from_pool(label, rng)
                theta = float(rng.uniform(-math.pi, math.pi)) if self.rotate and mesh_info is None else 0.0
                R = G.rotation_z(theta)
                c = R @ np.asarray(box["center"], dtype=np.float64)
                g_new = _ground_z(pts, ground_mask, c[:2])
                dz = 0.0 if g_new is None or g_src is None else g_new - g_src
                c[2] += dz
                nb = {"center": c.tolist(), "size": list(box["size"]), "yaw": float(np.arctan2(math.sin(box["yaw"] + theta), math.cos(box["yaw"] + theta)))}
                if any(G.bev_overlap(nb, b, self.clearance) for b in boxes):
                    continue
                obj = opts @ R.T + np.array([0.0, 0.0, dz])
                inside = G.points_in_box(obj, nb["center"], nb["size"], nb["yaw"])
                obj, oi = obj[inside], (None if oint is None else np.asarray(oint)[inside])
                if len(obj) < self.min_points:
                    continue
                near = G.points_in_box(pts, nb["center"], nb["size"], nb["yaw"], eps=0.1)
                if np.any(near & ~ground_mask):
                    continue
                # occlusion on a range image
                rs, azs, els = _spherical(pts)
                ro, azo, elo = _spherical(obj)
                nb_az = int(math.ceil(360.0 / az_res))
                key_s = np.floor((azs + 180.0) / az_res).astype(np.int64) + nb_az * np.floor((els + 90.0) / el_res).astype(np.int64)
                key_o = np.floor((azo + 180.0) / az_res).astype(np.int64) + nb_az * np.floor((elo + 90.0) / el_res).astype(np.int64)
                uo, inv = np.unique(key_o, return_inverse=True)
                omin = np.full(len(uo), np.inf)
                np.minimum.at(omin, inv, ro)
                pos = np.searchsorted(uo, key_s)
                pos_c = np.minimum(pos, len(uo) - 1)
                hit = (uo[pos_c] == key_s) if len(uo) else np.zeros(len(key_s), dtype=bool)
                hidden_scene = hit & (rs > np.where(hit, omin[pos_c], np.inf))
                in_box = G.points_in_box(pts, nb["center"], nb["size"], nb["yaw"], eps=1e-3)
                remove = hidden_scene | in_box
                # object points behind remaining scan points
                us, inv_s = np.unique(key_s[~remove], return_inverse=True)
                smin = np.full(len(us), np.inf)
                np.minimum.at(smin, inv_s, rs[~remove])
                pos = np.minimum(np.searchsorted(us, key_o), max(len(us) - 1, 0))
                ohit = (us[pos] == key_o) if len(us) else np.zeros(len(key_o), dtype=bool)
                visible = ~(ohit & (ro > np.where(ohit, smin[pos], np.inf)))
                if visible.sum() < self.min_points:
                    continue
                break
            else:
                continue  # no valid placement for this object: insert fewer
            keep = ~remove
            new_id = next_id
            next_id += 1
            pts = np.concatenate([pts[keep], obj[visible]])
            sem = np.concatenate([sem[keep], np.full(int(visible.sum()), lab_idx, dtype=np.int32)])
            inst = np.concatenate([inst[keep], np.full(int(visible.sum()), new_id, dtype=np.int32)])
            ground_mask = np.concatenate([ground_mask[keep], np.zeros(int(visible.sum()), dtype=bool)])
            if inten is not None:
                add = oi[visible] if oi is not None else np.full(int(visible.sum()), 0.5)
                inten = np.concatenate([inten[keep], add.astype(np.float32)])
            boxes.append({"category": label, **nb, "instance_id": new_id, "num_points": int(visible.sum())})
            if src_id is not None and src_id not in parents:
                parents.append(src_id)
            inserted.append({"instance_id": new_id, "source": src_id, "turn": round(theta, 5), "dz": round(dz, 4),
                             "center": np.round(nb["center"], 4).tolist(), **(mesh_info or {})})
        # recount points per box; drop boxes whose object vanished behind inserted ones
        out_boxes = []
        for b in boxes:
            n = int((inst == int(b["instance_id"])).sum())
            if n > 0:
                out_boxes.append({**b, "num_points": n})
        ann = {"point_labels": sem, "instance_ids": inst, "boxes3d": out_boxes, "label_names": names}
        if inten is not None:
            ann["intensity"] = inten
        params = {"base_scene": base.id, "requested": want, "inserted": inserted}
        return pts.astype(np.float32), ann, parents, params
