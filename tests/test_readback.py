"""What synthgen writes reads back as a dataset, also when some classes of the class list have no
samples (a synthetic set fills only the rare classes)."""
import pytest

from synthgen.io import formats

from .reader_datasets import image_samples, point_samples, text_samples

CASES = {"imagefolder": image_samples, "coco": image_samples, "jsonl": text_samples,
         "npz": point_samples, "ply": point_samples, "pcd": point_samples}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_written_set_with_empty_classes_reads_back(fmt, tmp_path):
    samples = CASES[fmt]()
    present = sorted({s.label for s in samples})
    classes = present + ["0", "never_generated"]  # the dataset's class list: two classes got nothing
    out = formats.get(fmt).write(samples, classes, str(tmp_path / "synthetic"))
    ds = formats.get(fmt).read(str(out))
    assert sorted(s.id for s in ds.samples) == sorted(s.id for s in samples)
    assert sorted({s.label for s in ds.samples}) == present
    assert not any(p.is_dir() and not any(p.iterdir()) for p in out.rglob("*")), "no empty class folder"
