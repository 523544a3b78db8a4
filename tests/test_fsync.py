"""fsync_tree: one syncfs(2) on Linux, one fsync per file elsewhere (durability itself cannot be
observed in a test; which route runs, and that both finish, can)."""
import os
import sys

import pytest

from synthgen.io import common


def _tree(root, n=5):
    root.mkdir()
    for i in range(n):
        (root / f"{i}.bin").write_bytes(b"x" * 10)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs(2) is Linux only")
def test_linux_uses_one_syncfs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    common.fsync_tree(_tree(tmp_path / "t"))
    assert calls == [], "no per-file fsync when syncfs succeeds"
    assert common._syncfs(tmp_path) is True


def test_falls_back_to_one_fsync_per_file(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(common, "_syncfs", lambda root: False)
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    common.fsync_tree(_tree(tmp_path / "t", n=4))
    assert len(calls) == 4
