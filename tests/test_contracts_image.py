from synthgen.generators.image import ImageAugment
from synthgen.validators.distribution import KSValidator, MMDValidator

from .contracts import check_generator, check_validator

TRANSFORMS = [{"name": "Affine", "translate_px": [-3, 3], "rotate": [-10, 10], "p": 1.0},
              {"name": "GaussNoise", "std_range": [0.02, 0.05], "p": 0.5}]


def test_image_augment_contract(small_digits):
    check_generator(lambda: ImageAugment(TRANSFORMS), small_digits, labels=["3", "0"], n=6)


def test_ks_validator_contract():
    check_validator(KSValidator(n_bootstrap=30))


def test_mmd_validator_contract():
    check_validator(MMDValidator(n_permutations=200, n_bootstrap=30))
