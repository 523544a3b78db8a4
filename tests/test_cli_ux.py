"""The CLI as a Hydra user expects it (issue 16 item 8-9, issue 15 item 4): --help lists the commands and
groups without enumerating every config, --version, shell completion for `synthgen <command>`, the
multirun hint for a comma, run.log holds the log, third-party chatter is quiet, evaluate checks its
model first, and the default job does not import torch or sklearn.datasets."""
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.cli import COMMANDS, main, quiet_third_party, verbose_requested

BIN = Path(sys.executable).parent
ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _main(args, capsys, monkeypatch, code=None):
    monkeypatch.setattr(sys, "argv", ["synthgen"])  # main() rewrites sys.argv for Hydra
    if code is None:
        main(list(args))
    else:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        assert e.value.code == code
    return capsys.readouterr()


def test_version_is_the_distribution_version(capsys, monkeypatch):
    out = _main(["--version"], capsys, monkeypatch).out.strip()
    assert out.startswith(f"synthgen {importlib.metadata.version('synthgen-rare')} ")
    assert len(out.splitlines()) == 1
    assert _main(["plan", "--version"], capsys, monkeypatch).out.strip() == out


def test_help_lists_commands_groups_and_config_without_hydras_enumeration(capsys, monkeypatch):
    from hydra._internal.hydra import Hydra

    def refuse(*a, **k):  # Hydra's help composes every option of every group (1.5 CPU-s)
        raise AssertionError("Hydra's format_config_groups was called")

    monkeypatch.setattr(Hydra, "format_config_groups", refuse)
    out = _main(["--help"], capsys, monkeypatch).out
    for name, (_, summary) in COMMANDS.items():
        assert f"  {name:<10} {summary}" in out
    conf = Path(__file__).resolve().parents[1] / "conf"
    for group in ("dataset", "generator", "validation", "gate", "experiment", "stress", "model"):
        opts = sorted(p.stem for p in (conf / group).glob("*.yaml"))
        line = next(l for l in out.splitlines() if l.startswith(f"{group}: "))
        assert [o.strip("[]") for o in line.split(": ", 1)[1].split(", ")] == opts, line
    assert "dataset: cgal, coco, coins, [digits]," in out  # the current choice
    assert "== Config ==" in out and "policy:\n  target: max" in out and "\nhydra:\n" not in out
    assert "hydra/launcher: " in out and "-sc install=bash" in out
    # overrides change what help shows, and a bad one is the usual one-line error
    assert "dataset: cgal, [coco]," in _main(["dataset=coco", "--help"], capsys, monkeypatch).out
    err = _main(["--help", "dataset=nope"], capsys, monkeypatch, code=2).err.strip()
    assert err.startswith("synthgen: error: dataset=nope: no such dataset config")


def test_command_help(capsys, monkeypatch):
    out = _main(["plan", "--help"], capsys, monkeypatch).out
    assert out.startswith(f"synthgen plan: {COMMANDS['plan'][1]}")
    assert "Configuration groups" in out and "dataset: cgal, coco, coins, [digits]," in out
    assert "policy:" in out and "generator:" not in out.split("== Config ==")[1]
    assert "== Commands ==" not in out
    ev = _main(["evaluate", "-h"], capsys, monkeypatch).out
    assert ev.startswith("synthgen evaluate: ") and "model: sklearn, sklearn_points, sklearn_text, [null]" in ev


def test_comma_in_a_plain_run_keeps_the_multirun_hint(capsys, monkeypatch, tmp_path):
    err = _main(["plan", "policy.target=50,60", f"hydra.run.dir={tmp_path / 'r'}"], capsys, monkeypatch, code=2).err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synthgen: error: policy.target=50,60: ambiguous value")
    assert "--multirun" in lines[0] and "policy.target=[50,60]" in lines[0]
    assert not (tmp_path / "r").exists()


def test_completion_script_is_for_synthgen(capsys, monkeypatch):
    out = _main(["-sc", "install=bash"], capsys, monkeypatch).out
    assert out.rstrip().endswith("-F hydra_bash_completion synthgen")
    assert "synthgen-run" not in out and "complete -p synthgen " in out


@pytest.mark.parametrize("line,want,unwanted", [
    ("synthgen ", {"run", "plan", "evaluate", "dataset="}, set()),
    ("synthgen pl", {"plan"}, {"run"}),
    ("synthgen plan ", {"policy.", "dataset="}, {"plan", "suite."}),
    ("synthgen evaluate ", {"suite.", "model="}, {"policy."}),
    ("synthgen plan dataset=co", {"dataset=coco", "dataset=coins"}, {"dataset=digits"}),
    ("synthgen dataset=", {"dataset=digits"}, {"plan"}),
])
def test_completion_query(line, want, unwanted, capsys, monkeypatch):
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line)))
    words = set(_main(["-sc", "query=bash"], capsys, monkeypatch).out.split())
    assert want <= words, (line, sorted(words))
    assert not unwanted & words, (line, sorted(words))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_completion_in_bash():
    """The printed script, sourced in bash, completes `synthgen pl` and `synthgen plan dataset=co`."""
    script = (
        'eval "$(synthgen -sc install=bash)"\n'
        'complete -p synthgen\n'
        'for line in "synthgen pl" "synthgen plan dataset=co"; do\n'
        '  COMP_LINE="$line"; COMP_POINT=${#line}; read -ra COMP_WORDS <<< "$line"; COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
        '  COMPREPLY=(); hydra_bash_completion; echo "REPLY: ${COMPREPLY[*]}"\n'
        'done\n'
    )
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    replies = [l for l in p.stdout.splitlines() if l.startswith("REPLY: ")]
    assert "hydra_bash_completion synthgen" in p.stdout, (p.stdout, p.stderr)
    assert replies == ["REPLY: plan", "REPLY: dataset=coco dataset=coins"], (p.stdout, p.stderr)


def test_plan_composes_the_config_once(capsys, monkeypatch, tmp_path):
    """Only the job composes: Hydra's composition is wrapped for one-line errors, and its extra
    composition just to read hydra.mode is answered without composing."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    calls = []
    orig = ConfigLoaderImpl.load_configuration

    def counting(self, *a, **k):
        calls.append(k.get("config_name", a[0] if a else None))
        return orig(self, *a, **k)

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counting)
    out = _main(["plan", f"hydra.run.dir={tmp_path / 'p'}"], capsys, monkeypatch).out
    assert "total" in out
    assert calls == ["plan"]


def test_run_log_holds_what_the_terminal_showed(tmp_path):
    d = tmp_path / "p"
    p = subprocess.run([str(BIN / "synthgen"), "plan", f"hydra.run.dir={d}"], capture_output=True, text=True,
                       env=ENV, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    log = (d / "plan.log").read_text()
    shown = [l.rstrip() for l in p.stdout.splitlines() if l.strip()]
    logged = [l.split("][INFO] - ", 1)[1] for l in log.splitlines() if "[synthgen][INFO] - " in l]
    assert shown and logged == shown


def test_third_party_chatter_is_quiet_unless_verbose(monkeypatch):
    for v in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.delenv("SYNTHGEN_VERBOSE", raising=False)
    for name in ("alembic", "ray._private.authentication.authentication_token_setup"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    quiet_third_party()
    assert os.environ["TRANSFORMERS_VERBOSITY"] == os.environ["DIFFUSERS_VERBOSITY"] == "error"
    assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    assert not logging.getLogger("ray._private.authentication.authentication_token_setup").isEnabledFor(logging.WARNING)
    assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.WARNING)
    assert verbose_requested(["hydra.verbose=true"]) and verbose_requested(["hydra.verbose=[synthgen]"])
    assert not verbose_requested(["hydra.verbose=false"]) and not verbose_requested(["seed=1"])
    monkeypatch.setenv("SYNTHGEN_VERBOSE", "1")
    assert verbose_requested([])


def test_transformers_warning_is_silenced_by_the_quiet_settings():
    pytest.importorskip("transformers")
    code = ("import sys\n"
            "if sys.argv[1] == 'quiet':\n"
            "    from synthgen.cli import quiet_third_party; quiet_third_party()\n"
            "from transformers.utils import logging as L\n"
            "L.get_logger('transformers.probe').warning('requires torchvision (probe)')\n")
    env = {k: v for k, v in ENV.items() if k not in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY")}
    loud = subprocess.run([sys.executable, "-c", code, "loud"], capture_output=True, text=True, env=env, timeout=300)
    quiet = subprocess.run([sys.executable, "-c", code, "quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert "requires torchvision (probe)" in loud.stderr  # the probe is real
    assert "requires torchvision (probe)" not in quiet.stderr and quiet.returncode == 0


def test_evaluate_reports_a_missing_model_before_reading_the_suite(capsys, monkeypatch, tmp_path):
    suite = tmp_path / "not_a_suite"  # reading it would fail (or take long): the model is checked first
    suite.mkdir()
    (suite / "junk.txt").write_text("x")
    err = _main(["evaluate", f"suite.path={suite}", "model=sklearn", f"model.path={tmp_path / 'missing.pkl'}",
                 f"hydra.run.dir={tmp_path / 'e'}"], capsys, monkeypatch, code=2).err.strip().splitlines()
    assert len(err) == 1 and "missing.pkl: model file not found" in err[0], err
    err = _main(["evaluate", f"suite.path={tmp_path / 'nowhere'}", "model=sklearn", f"model.path={tmp_path / 'm.pkl'}",
                 f"hydra.run.dir={tmp_path / 'e'}"], capsys, monkeypatch, code=2).err.strip().splitlines()
    assert len(err) == 1 and "nowhere: suite.path does not exist" in err[0], err


def test_digits_read_from_the_packaged_csv_equal_load_digits():
    from sklearn.datasets import load_digits

    from synthgen.io.digits import digits_arrays

    images, target = digits_arrays()
    ref = load_digits()
    assert images.dtype == ref.images.dtype and images.shape == ref.images.shape == (1797, 8, 8)
    assert np.array_equal(images, ref.images) and np.array_equal(target, ref.target)
    assert target.dtype.kind == "i"


def test_albumentations_without_torch_in_a_fresh_process():
    code = ("import sys\n"
            "from synthgen.lazy import albumentations, albumentations_transform\n"
            "A = albumentations()\n"
            "assert A.HorizontalFlip is not None\n"
            "print('torch' in sys.modules)\n"
            "print(albumentations_transform('ToTensorV2').__name__, 'torch' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "ToTensorV2", "True"]  # torch only when a tensor transform is asked for


@pytest.mark.slow
def test_default_job_imports_neither_torch_nor_sklearn_datasets(tmp_path):
    code = ("import sys\n"
            "from synthgen.cli import main\n"
            f"main(['hydra.run.dir={tmp_path / 'run'}', 'policy.target=70', 'validation.validators.mmd.n_permutations=200', 'merge.into=null'])\n"
            "print('IMPORTED', [m for m in ('torch', 'sklearn.datasets', 'albumentations.pytorch') if m in sys.modules])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "IMPORTED []" in p.stdout, p.stdout[-2000:]
    assert "albumentations" in (tmp_path / "run" / "synthetic" / "manifest.jsonl").read_text()  # it did augment
