"""benchmarks/run_all.py: names choose benches and are not passed on; a failing bench does not stop
the later ones."""
import argparse
import sys
import types

from benchmarks import run_all


def test_names_are_not_passed_on_and_failures_do_not_stop_later_benches(tmp_path, monkeypatch, capsys):
    ran = []

    def with_argparse(argv=None):
        ap = argparse.ArgumentParser()
        ap.add_argument("--quick", action="store_true")
        ap.parse_args(argv)  # argv=None would read sys.argv: "unrecognized arguments: fa fb fc"
        ran.append("fa")

    def exits():
        raise SystemExit(2)

    def last():
        ran.append("fc")

    for stem, fn in (("bench_fa", with_argparse), ("bench_fb", exits), ("bench_fc", last)):
        (tmp_path / f"{stem}.py").write_text("")
        monkeypatch.setitem(sys.modules, f"benchmarks.{stem}", types.SimpleNamespace(main=fn))
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(sys, "argv", ["run_all.py", "fa", "fb", "fc"])
    assert run_all.main(["fa", "fb", "fc"]) == 1
    assert ran == ["fa", "fc"]
    assert "bench_fb exited with status 2" in capsys.readouterr().err
    assert run_all.main(["nope"]) == 2
