"""Published baseline errors that normalise corruption errors into CE and mCE.

Each baseline: ``scale`` (mCE is reported x100 for ImageNet-C, as a ratio for ModelNet-C),
``clean_error``, and per corruption the error at each severity (``errors``) and/or their ``mean``.
"""
from __future__ import annotations

# Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
# Perturbations", ICLR 2019; the per-severity AlexNet top-1 errors are the table "AlexNet ImageNet-C
# Error" of https://github.com/hendrycks/robustness (README).  The clean error (43.5 %) is Table 1.
_ALEXNET = {
    "gaussian_noise": (0.886428, (0.69528, 0.82542, 0.93554, 0.98138, 0.99452)),
    "shot_noise": (0.894468, (0.71224, 0.85108, 0.93574, 0.98182, 0.99146)),
    "impulse_noise": (0.922640, (0.78374, 0.89808, 0.94870, 0.98720, 0.99548)),
    "defocus_blur": (0.819880, (0.65624, 0.73202, 0.85036, 0.91364, 0.94714)),
    "glass_blur": (0.826268, (0.64308, 0.75054, 0.88806, 0.91622, 0.93344)),
    "motion_blur": (0.785948, (0.58430, 0.70048, 0.82108, 0.89750, 0.92638)),
    "zoom_blur": (0.798360, (0.70008, 0.76992, 0.80784, 0.84198, 0.87198)),
    "snow": (0.866816, (0.71726, 0.88392, 0.86468, 0.91870, 0.94952)),
    "frost": (0.826572, (0.61390, 0.79734, 0.88790, 0.89942, 0.93430)),
    "fog": (0.819324, (0.67474, 0.76050, 0.84378, 0.87260, 0.94500)),
    "brightness": (0.564592, (0.45140, 0.48502, 0.54048, 0.62166, 0.72440)),
    "contrast": (0.853204, (0.64548, 0.76150, 0.88874, 0.97760, 0.99270)),
    "elastic_transform": (0.646056, (0.52596, 0.70116, 0.55686, 0.64076, 0.80554)),
    "pixelate": (0.717840, (0.52218, 0.54620, 0.73728, 0.87092, 0.91262)),
    "jpeg_compression": (0.606500, (0.51002, 0.54718, 0.57294, 0.65458, 0.74778)),
    # held-out corruptions (not in the 15-corruption mCE of the paper)
    "speckle_noise": (0.845388, (0.66192, 0.74440, 0.90246, 0.94548, 0.97268)),
    "gaussian_blur": (0.787108, (0.54732, 0.70444, 0.82574, 0.89864, 0.95940)),
    "spatter": (0.717512, (0.47196, 0.62194, 0.75052, 0.84132, 0.90182)),
    "saturate": (0.658248, (0.59342, 0.65514, 0.51174, 0.70834, 0.82260)),
}

ALEXNET_IMAGENET_C = {
    "name": "alexnet",
    "benchmark": "imagenet-c",
    "source": "Hendrycks & Dietterich (ICLR 2019), AlexNet top-1 error; github.com/hendrycks/robustness README",
    "metric": "error",
    "scale": 100.0,
    "clean_error": 0.435,
    "corruptions": {k: {"mean": m, "errors": {i + 1: e for i, e in enumerate(es)}} for k, (m, es) in _ALEXNET.items()},
}

# Ren, Pan, Liu, "Benchmarking and Analyzing Point Cloud Classification under Corruptions" (2022):
# DGCNN's overall accuracy on ModelNet-C, averaged over the five levels (DGCNN_OA in
# github.com/jiawei-ren/ModelNet-C, modelnetc_utils/eval.py).  Error = 1 - OA.
_DGCNN_OA = {"clean": 0.926, "scale": 0.906, "jitter": 0.684, "rotate": 0.785, "dropout_global": 0.752,
             "dropout_local": 0.793, "add_global": 0.705, "add_local": 0.725}

DGCNN_MODELNET_C = {
    "name": "dgcnn",
    "benchmark": "modelnet-c",
    "source": "Ren et al. 2022 (ModelNet-C), DGCNN overall accuracy per corruption; github.com/jiawei-ren/ModelNet-C",
    "metric": "error",
    "scale": 1.0,
    "clean_error": round(1 - _DGCNN_OA["clean"], 6),
    "corruptions": {k: {"mean": round(1 - v, 6)} for k, v in _DGCNN_OA.items() if k != "clean"},
}

DGCNN_OA = dict(_DGCNN_OA)

BASELINES = {"alexnet": ALEXNET_IMAGENET_C, "dgcnn": DGCNN_MODELNET_C}
BY_BENCHMARK = {"imagenet-c": "alexnet", "imagenet-c-holdout": "alexnet", "modelnet-c": "dgcnn"}
