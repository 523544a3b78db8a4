"""Reference ImageNet-C corruptions, for byte-exact comparison tests (not part of synthgen).

Copied from Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations" (ICLR 2019), https://github.com/hendrycks/robustness,
file ImageNet-C/create_c/make_imagenet_c.py (commit e0377d46411fa30c01a9559017bdb6a5f78d4abf).
Copyright (c) Dan Hendrycks and Thomas Dietterich. Licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0); distributed "AS IS", WITHOUT WARRANTIES OR CONDITIONS
OF ANY KIND.

Changes from the original, and nothing else:
- ``gaussian(..., multichannel=True)`` -> ``gaussian(..., channel_axis=-1)``: the same call in the
  scikit-image API since 0.19 (``multichannel`` was removed in 0.21);
- ``glass_blur``'s hard-coded ``224`` -> ``x.shape[0]`` / ``x.shape[1]``, as in the ``imagenet_c``
  package of the same repository, so that small test images can be used.

The reference draws from NumPy's global ``np.random`` state; seed it with ``np.random.seed`` before
each call. Outputs are float arrays in [0, 255]; ImageNet-C saves them with ``np.uint8(img)``.
"""
import numpy as np
import skimage as sk
from skimage.filters import gaussian


def glass_blur(x, severity=1):
    # sigma, max_delta, iterations
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]

    x = np.uint8(gaussian(np.array(x) / 255., sigma=c[0], channel_axis=-1) * 255)

    # locally shuffle pixels
    for i in range(c[2]):
        for h in range(x.shape[0] - c[1], c[1], -1):
            for w in range(x.shape[1] - c[1], c[1], -1):
                dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                # swap
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]

    return np.clip(gaussian(x / 255., sigma=c[0], channel_axis=-1), 0, 1) * 255


def saturate(x, severity=1):
    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]

    x = np.array(x) / 255.
    x = sk.color.rgb2hsv(x)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    x = sk.color.hsv2rgb(x)

    return np.clip(x, 0, 1) * 255
