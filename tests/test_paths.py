"""Path safety: hostile class names and sample ids never put a file outside the output folder.

Property tests (hypothesis) over labels such as ``..``, ``../../x``, absolute paths, separators, NUL,
newlines, 1,000-character strings, Unicode look-alikes of ``/`` and case-only differences: the class
folders are distinct even on a case-insensitive file system, every written file lies inside the
output folder, and reading the dataset back gives each sample its exact label.
"""
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthgen.errors import DatasetError
from synthgen.io.imagefolder import read_imagefolder, write_imagefolder
from synthgen.io.paths import class_dirs, safe_join
from synthgen.sample import Provenance, Sample

HOSTILE = [
    "..", ".", "../../x", "../../../escaped", "../" * 6 + "deep", "/etc/x", "/", "a/b", "a\\b", "..\\..\\x", "a\x00b",
    "a\nb", "\n", "x" * 1000, "a\uff0fb", "a\u2215b", "\uff0e\uff0e", "Cat", "cat", "CAT", "\u00e9\u00e9\u00e9", "\u65e5\u672c",
    "", " ", "sample", "a b", "a_b", "CON", "nul.txt", "x-deadbeef", ".hidden", "-rf", "a.", "digit-0",
    "manifest.jsonl", "MERGE.json", "annotations.json", "data.yaml", "velodyne",
]
label_st = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20), st.text(alphabet="aA/\\.-_ \x00\n\uff0f", max_size=8))
labels_st = st.lists(label_st, min_size=1, max_size=8, unique=True)
readable_st = st.lists(label_st.filter(str.strip), min_size=1, max_size=8, unique=True)  # readers refuse blank labels
FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _samples(labels, points=False):
    out = []
    for i, label in enumerate(labels * 2):
        prov = Provenance("tests.paths", "1", "0" * 64, 0, label, i, (), {}, {})
        sid = f"{i}:{label}"  # hostile ids too: the file stem is built from the id
        if points:
            data = np.random.default_rng(i).random((5, 3)).astype(np.float32)
            out.append(Sample(sid, data, label, {}, prov, modality="points"))
        else:
            out.append(Sample(sid, np.full((2, 3, 3), i % 256, np.uint8), label, provenance=prov))
    return out


def _write_and_check(tmp_path, labels, write, read, points=False):
    """Write into a deep ``.../root/out`` (so ``..`` runs cannot leave ``tmp_path`` unseen), check
    every file lies inside ``out``, read back, and remove the example's folder."""
    example = Path(tempfile.mkdtemp(dir=tmp_path))
    out = example / "d1" / "d2" / "d3" / "d4" / "d5" / "root" / "out"
    absolute = str(tmp_path / "absolute-target")  # an absolute label pointing at a folder we can watch
    labels = [*labels, absolute]
    samples = _samples(labels, points)
    try:
        write(samples, labels[: len(labels) // 2], str(out))  # the other labels first appear in samples
        stray = [p for p in tmp_path.rglob("*")  # anything but out's own ancestors must lie inside out
                 if not Path(os.path.realpath(p)).is_relative_to(out.resolve()) and not (p.is_dir() and out.is_relative_to(p))]
        assert not stray and (out / "manifest.jsonl").is_file(), stray
        assert not os.path.exists(absolute)
        assert all(FOLDER.fullmatch(p.name) for p in out.iterdir() if p.is_dir())
        if any(not label.strip() for label in labels):  # readers refuse blank labels (tests/test_hostile_readers.py)
            with pytest.raises(DatasetError, match="empty label"):
                read(str(out))
            return
        ds = read(str(out))
        assert {s.id: s.label for s in ds.samples} == {s.id: s.label for s in samples}
        assert sorted(ds.classes) == sorted(set(labels))
    finally:
        shutil.rmtree(example)


@given(labels_st)
@settings(max_examples=300, deadline=None)
def test_class_dirs_are_distinct_safe_and_order_free(labels):
    dirs = class_dirs(labels)
    assert set(dirs) == set(labels)
    assert len({d.casefold() for d in dirs.values()}) == len(dirs)  # injective, also on case-insensitive disks
    assert all(FOLDER.fullmatch(d) and d not in (".", "..") for d in dirs.values())
    assert class_dirs(list(reversed(labels))) == dirs == class_dirs(labels)
    for label, d in dirs.items():
        if FOLDER.fullmatch(label) and sum(x.casefold() == label.casefold() for x in labels) == 1 and d != label:
            assert re.fullmatch(r"(?i).*-[0-9a-f]{8}|(con|prn|aux|nul|com\d|lpt\d)(\..*)?|.*\.|manifest\.jsonl|merge\.json|"
                                r"annotations\.json|data\.yaml|data\.jsonl|classes\.json|points\.npz|velodyne", label), (label, d)


def test_plain_labels_keep_their_names_and_clashes_are_encoded():
    dirs = class_dirs(["cat", "dog", "Cat", "a b", "a_b", "", "\u00e9\u00e9", "sample"])
    assert dirs["dog"] == "dog" and dirs["a_b"] == "a_b" and dirs["sample"] == "sample"
    assert dirs["cat"] != "cat" and dirs["Cat"] != "Cat" and dirs["cat"].casefold() != dirs["Cat"].casefold()
    assert dirs["a b"].startswith("a_b-") and dirs[""].startswith("sample-") and dirs[""] != dirs["\u00e9\u00e9"]


@given(readable_st)
@PROPERTY
def test_imagefolder_never_writes_outside_and_reads_labels_back(tmp_path, labels):
    _write_and_check(tmp_path, labels, write_imagefolder, read_imagefolder)


@given(readable_st)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ply_never_writes_outside_and_reads_labels_back(tmp_path, labels):
    pytest.importorskip("open3d")
    from synthgen.io.ply import read_ply, write_ply

    _write_and_check(tmp_path, labels, write_ply, read_ply, points=True)


def test_every_fixed_hostile_label_at_once(tmp_path):
    _write_and_check(tmp_path, [label for label in HOSTILE if label.strip()], write_imagefolder, read_imagefolder)
    _write_and_check(tmp_path, HOSTILE, write_imagefolder, read_imagefolder)  # blank labels: written inside, refused on read


def test_ordinary_dataset_keeps_torchvision_layout(tmp_path):
    """Plain labels name their own folders, as torchvision's ImageFolder expects."""
    out = write_imagefolder(_samples(["cat", "dog"]), ["cat", "dog", "empty"], str(tmp_path / "out"))
    # no folder for a class without samples: torchvision's ImageFolder (and ours) refuse an empty one
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cat", "dog"]
    assert read_imagefolder(str(out)).classes == ["cat", "dog"]  # with a manifest, classes come from it


def test_layout_names_are_not_class_folders(tmp_path):
    """A class called ``manifest.jsonl`` or ``velodyne`` neither breaks the writer nor changes the detected format."""
    from synthgen.io.formats import detect

    labels = ["manifest.jsonl", "annotations.json", "data.yaml", "velodyne", "points.npz"]
    out = write_imagefolder(_samples(labels), labels, str(tmp_path / "out"))
    assert detect(out).name == "imagefolder"
    assert {s.label for s in read_imagefolder(str(out)).samples} == set(labels)


def test_safe_join_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    (root / "sub" / "up").symlink_to("../..")
    assert safe_join(root, "sub", "a..b.png") == (root / "sub" / "a..b.png").resolve()
    assert safe_join(root, "new/dir/x.png") == (root / "new" / "dir" / "x.png").resolve()
    for parts in [("..",), ("../x",), ("sub", "../../x"), ("/etc/passwd",), (str(outside),), ("a\x00b",), ("",), (".",),
                  ("link",), ("link", "x.png"), ("sub", "up", "x"), ("..\\x",)]:
        with pytest.raises(DatasetError) as e:
            safe_join(root, *parts)
        assert "\n" not in str(e.value)
    assert not list(outside.iterdir())


def test_manifest_cannot_point_a_reader_outside(tmp_path):
    out = write_imagefolder(_samples(["a"]), ["a"], str(tmp_path / "out"))
    man = out / "manifest.jsonl"
    man.write_text(man.read_text().replace('"file":"a/', '"file":"../../a/', 1))
    for lazy in (False, True):
        with pytest.raises(DatasetError, match="outside"):
            read_imagefolder(str(out), lazy=lazy)


def test_long_ids_give_short_distinct_file_names(tmp_path):
    prov = Provenance("tests.paths", "1", "0" * 64, 0, "a", 0, (), {}, {})
    ids = ["x" * 1000, "x" * 999 + "y", "/etc/" + "z" * 300]
    img = np.zeros((2, 2, 3), np.uint8)
    out = write_imagefolder([Sample(i, img, "a", provenance=prov) for i in ids], ["a"], str(tmp_path / "out"))
    names = [p.name for p in (out / "a").iterdir()]
    assert len(set(names)) == 3 and max(map(len, names)) <= 120
    assert sorted(s.id for s in read_imagefolder(str(out)).samples) == sorted(ids)
