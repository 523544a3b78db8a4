"""Reference ModelNet40-C corruptions, for tests/test_points_reference.py only.

Transcribed from ModelNet40-C (Jiachen Sun et al., "Benchmarking Robustness of 3D Point Cloud
Recognition Against Common Corruptions", 2022), https://github.com/jiachens/ModelNet40-C:
``normalize`` from data/util.py (commit b1e7710), ``background_noise``, ``impulse_noise``,
``upsampling`` and ``shear`` from data/generate_c.py (commit 5e080bb).
Copyright (c) 2021, University of Michigan.  All rights reserved.  Licence: BSD 3-Clause
(see https://github.com/jiachens/ModelNet40-C/blob/master/LICENSE); redistributed under its terms.

The operations, their order, the ``np.random`` calls (same calls, same arguments, same order) and
the float32 casts are the reference's; only the layout is ours.  As in the reference, the draws come
from NumPy's global legacy generator and ``ORIG_NUM`` (1,024) is the number of input points.
"""
import numpy as np

ORIG_NUM = 1024


def normalize(new_pc):
    """Centre the bounding box per axis, then scale so the longest side is 2 (in place)."""
    new_pc[:, 0] -= (np.max(new_pc[:, 0]) + np.min(new_pc[:, 0])) / 2
    new_pc[:, 1] -= (np.max(new_pc[:, 1]) + np.min(new_pc[:, 1])) / 2
    new_pc[:, 2] -= (np.max(new_pc[:, 2]) + np.min(new_pc[:, 2])) / 2
    lx = np.max(new_pc[:, 0]) - np.min(new_pc[:, 0])
    ly = np.max(new_pc[:, 1]) - np.min(new_pc[:, 1])
    lz = np.max(new_pc[:, 2]) - np.min(new_pc[:, 2])
    if lx >= ly and lx >= lz:
        ratio = 2.0 / lx
    elif ly >= lx and ly >= lz:
        ratio = 2.0 / ly
    else:
        ratio = 2.0 / lz
    new_pc *= ratio
    return new_pc


def shear(pointcloud, severity):
    c = [0.05, 0.1, 0.15, 0.2, 0.25][severity - 1]
    # six factors drawn, b, d, e, f used (a and g are drawn but unused in the reference)
    a, b, d, e, f, g = (np.random.uniform(c - 0.05, c + 0.05) * np.random.choice([-1, 1]) for _ in range(6))
    matrix = np.array([[1, 0, b], [d, 1, e], [f, 0, 1]])
    new_pc = np.matmul(pointcloud, matrix).astype("float32")
    return normalize(new_pc)


def background_noise(pointcloud, severity):
    N, C = pointcloud.shape
    c = [N // 45, N // 40, N // 35, N // 30, N // 20][severity - 1]
    jitter = np.random.uniform(-1, 1, (c, C))
    new_pc = np.concatenate((pointcloud, jitter), axis=0).astype("float32")
    return normalize(new_pc)


def upsampling(pointcloud, severity):
    N, C = pointcloud.shape
    c = [N // 5, N // 4, N // 3, N // 2, N][severity - 1]
    index = np.random.choice(ORIG_NUM, c, replace=False)
    add = pointcloud[index] + np.random.uniform(-0.05, 0.05, (c, C))
    new_pc = np.concatenate((pointcloud, add), axis=0).astype("float32")
    return normalize(new_pc)


def impulse_noise(pointcloud, severity):
    N, C = pointcloud.shape
    c = [N // 30, N // 25, N // 20, N // 15, N // 10][severity - 1]
    index = np.random.choice(ORIG_NUM, c, replace=False)
    pointcloud[index] += np.random.choice([-1, 1], size=(c, C)) * 0.1
    return normalize(pointcloud)
