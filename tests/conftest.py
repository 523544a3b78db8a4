import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    from synthgen.io.digits import load_digits_dataset

    return load_digits_dataset(32)


@pytest.fixture(scope="session")
def small_digits(digits):
    """30 digits per class of 0, 1, 3: small enough for quick generator tests."""
    keep = []
    for c in ("0", "1", "3"):
        keep.extend([s for s in digits.samples if s.label == c][:30])
    ds = digits.subset(keep)
    ds.classes = ["0", "1", "3"]
    return ds
