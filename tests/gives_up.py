"""A generator that gives up on one class part-way (for tests/test_class_gives_up.py)."""
from synthgen.errors import InsufficientDataError
from synthgen.generators.image import ImageAugment


class AugmentGivesUp(ImageAugment):
    """``ImageAugment`` that raises ``InsufficientDataError`` for class ``give_up`` from sample ``after`` on,
    as a generator does when its novelty filter runs dry part-way through a class."""

    def __init__(self, transforms, min_visibility=0.3, min_area=4.0, give_up="3", after=5):
        super().__init__(transforms, min_visibility, min_area)
        self.give_up = give_up
        self.after = after

    def _make(self, label, index, rng, seed):
        if label == str(self.give_up) and index >= int(self.after):
            raise InsufficientDataError(f"class '{label}': ran dry at sample {index}")
        return super()._make(label, index, rng, seed)
