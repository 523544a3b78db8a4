"""The batch hook on BaseGenerator: generators that make samples in fixed groups (DDPM, Stable
Diffusion) implement ``group_size`` and ``_make_group``; the base class walks the groups, so shards give
the same bytes and the generator keeps no per-call state."""
import numpy as np

from synthgen.generators.base import BaseGenerator
from synthgen.seeding import sample_rng


class Grouped(BaseGenerator):
    modality = "image"
    short_name = "grouped"

    def __init__(self, size: int = 3):
        self.size = size
        self.calls: list[list[int]] = []

    def group_size(self):
        return self.size

    def _make_group(self, label, indices, seed):
        self.calls.append(list(indices))
        # a group result that depends on the whole group (like a batched network would, in float):
        # the mean noise of the group is added to every member
        noise = [sample_rng(seed, label, i).integers(0, 50, (4, 4, 3)) for i in indices]
        shared = int(np.mean(noise))
        return [((n + shared).astype(np.uint8), {}, [], {"group": [indices[0] // self.size, self.size]}) for n in noise]


def _bytes(samples):
    return {s.id: s.data.tobytes() for s in samples}


def test_groups_made_once_and_shards_identical():
    g = Grouped().fit(None)
    full = list(g.generate("a", 8, seed=5))
    assert [len(c) for c in g.calls] == [3, 3, 2] and len(full) == 8
    g.calls.clear()
    parts = list(g.generate("a", 8, 5, indices=[7, 6])) + list(g.generate("a", 8, 5, indices=[0, 4, 5, 3, 1, 2]))
    assert _bytes(parts) == _bytes(full), "any split into shards gives the same bytes"
    assert g.calls == [[6, 7], [0, 1, 2], [3, 4, 5], [0, 1, 2]], "a group is made again only when the walk leaves it"
    assert not {k for k in vars(g) if k.startswith("_")} - {"_candidates"}, "no per-call state on the instance"


def test_default_is_one_sample_at_a_time():
    class One(BaseGenerator):
        modality = "image"
        short_name = "one"

        def _make(self, label, index, rng, seed):
            return np.full((2, 2, 3), index, np.uint8), {}, (), {}

    assert One().group_size() is None
    assert [int(s.data[0, 0, 0]) for s in One().fit(None).generate("x", 3, 0)] == [0, 1, 2]
