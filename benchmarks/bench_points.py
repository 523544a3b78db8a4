"""Point-cloud benchmarks, as ratios against the raw library or a reference implementation.

* LiDAR: one whole ``points_lidar`` scan (placement, ray cast, noise, labels, boxes) against the
  limit, open3d building the ``RaycastingScene`` from the same meshes and casting the same rays once
  (every scan places new objects), and against the bare ``cast_rays`` into a scene built beforehand.
* Chamfer: the squared-L2 Chamfer distance with ``scipy.spatial.cKDTree`` (what the validators use)
  against brute force (all pairwise distances in numpy), at 2,048 points.
* Surface sampling: our seeded numpy uniform and Poisson-disk sampling against open3d's
  ``sample_points_uniformly`` / ``sample_points_poisson_disk`` (which cannot be seeded per sample).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # run as a script or through run_all

from benchmarks.common import median_of, ratio_line  # noqa: E402


def bench_lidar() -> None:
    """One labeled scan against the minimal work any simulator does per scan (each scan places new
    objects): build the RaycastingScene from the same meshes and cast the rays once; and, for
    reference, the bare cast into a scene built beforehand."""
    import open3d as o3d

    from synthgen.generators.points import LidarGenerator
    from synthgen.generators.points.lidar import ray_directions
    from synthgen.seeding import sample_rng

    g = LidarGenerator(sensor={"beams": 64, "azimuth_resolution": 0.35}, n_objects=[6, 6])
    sensor = g.sensor_config()
    placed = g.place_objects("car", sample_rng(0, "car", 0))
    gv = np.array([[-200, -200, 0], [200, -200, 0], [200, 200, 0], [-200, 200, 0]], dtype=np.float32)
    gt = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)

    def build():
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(gv), o3d.core.Tensor(gt))
        for p in placed:
            scene.add_triangles(o3d.core.Tensor(p["vertices"].astype(np.float32)), o3d.core.Tensor(p["triangles"].astype(np.uint32)))
        return scene

    d = ray_directions(sensor)
    rays = o3d.core.Tensor(np.concatenate([np.tile([0, 0, sensor["height"]], (len(d), 1)), d], axis=1).astype(np.float32))
    scene = build()
    bare = median_of(lambda: scene.cast_rays(rays, nthreads=1), repeat=9)[0]
    minimal = median_of(lambda: build().cast_rays(rays, nthreads=1), repeat=9)[0]
    ours = median_of(lambda: next(g.generate("car", 1, 0)), repeat=9)[0]
    name = f"LiDAR scan, 64 x {len(d) // 64} rays, 6 objects"
    print(ratio_line(name + " vs build + cast", ours, minimal, goal=f"({1 / ours:.1f} labeled scans/s; the limit)"))
    print(ratio_line(name + " vs bare cast", ours, bare, goal="(scene built beforehand)"))


def bench_chamfer() -> None:
    from synthgen.validators.points_features import chamfer, chamfer_brute

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2048, 3)), rng.normal(size=(2048, 3))
    assert abs(chamfer(a, b) - chamfer_brute(a, b)) < 1e-9
    ours = median_of(lambda: chamfer(a, b), repeat=5)[0]
    ref = median_of(lambda: chamfer_brute(a, b), repeat=3)[0]
    print(ratio_line("Chamfer 2,048 x 2,048, cKDTree vs brute force", ours, ref))


def bench_sampling() -> None:
    import open3d as o3d

    from synthgen.generators.points import geometry as G

    v, t, _ = G.primitive_mesh("torus", {"resolution": 40}, np.random.default_rng(0), "bench")
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(v), o3d.utility.Vector3iVector(t.astype(np.int32)))
    rng = np.random.default_rng(0)
    ours = median_of(lambda: G.sample_surface(v, t, 2048, rng, "uniform"), repeat=5)[0]
    ref = median_of(lambda: mesh.sample_points_uniformly(2048), repeat=5)[0]
    print(ratio_line("uniform surface sampling, 2,048 points", ours, ref))
    ours = median_of(lambda: G.sample_surface(v, t, 2048, rng, "poisson"), repeat=3)[0]
    ref = median_of(lambda: mesh.sample_points_poisson_disk(2048), repeat=3)[0]
    print(ratio_line("Poisson-disk sampling, 2,048 points", ours, ref))


def main() -> None:
    bench_lidar()
    bench_chamfer()
    bench_sampling()


if __name__ == "__main__":
    main()
