"""Every bad option is one ConfigError line naming the key, before any work; no default config raises."""
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from synthgen.cli import COMMANDS, main
from synthgen.errors import ConfigError
from synthgen.options import check_options

CONF = Path(__file__).resolve().parents[1] / "conf"
FILE = "{file}"  # replaced by an existing regular file

# (command, override, the key the message must start with)
BAD = [
    ("run", "workers=two", "workers"),
    ("run", "workers=0", "workers"),
    ("run", "workers=-2", "workers"),
    ("run", "workers=1.5", "workers"),
    ("run", "chunk=abc", "chunk"),
    ("run", "chunk=0", "chunk"),
    ("run", "chunk=-5", "chunk"),
    ("run", "seed=abc", "seed"),
    ("run", "seed=true", "seed"),
    ("run", "shard=abc", "shard"),
    ("run", "shard=5/2", "shard"),
    ("run", "shard=1/0", "shard"),
    ("run", "policy.max_synthetic_fraction=abc", "policy.max_synthetic_fraction"),
    ("run", "policy.max_synthetic_fraction=1.5", "policy.max_synthetic_fraction"),
    ("run", "policy.max_synthetic_fraction=-0.1", "policy.max_synthetic_fraction"),
    ("run", "policy.target=biggest", "policy.target"),
    ("run", "policy.target=0", "policy.target"),
    ("run", "policy.target=-4", "policy.target"),
    ("run", "policy.target=2.5", "policy.target"),
    ("run", "policy.rare_below=-1", "policy.rare_below"),
    ("run", "policy.rare_below=abc", "policy.rare_below"),
    ("run", "policy.min_real=-1", "policy.min_real"),
    ("run", "policy.classes=3", "policy.classes"),
    ("run", "report.examples=0", "report.examples"),
    ("run", "report.examples=-3", "report.examples"),
    ("run", "output.format=tiff", "output.format"),
    ("run", "objective.class=[3]", "objective.class"),
    ("run", f"merge.into={FILE}", "merge.into"),
    ("run", "merge.force=maybe", "merge.force"),
    ("run", "validation.validators.mmd.n_permutations=0", "validation.validators.mmd.n_permutations"),
    ("run", "validation.validators.mmd.n_permutations=-100", "validation.validators.mmd.n_permutations"),
    ("run", "validation.validators.mmd.n_permutations=abc", "validation.validators.mmd.n_permutations"),
    ("run", "validation.validators.ks.n_bootstrap=0", "validation.validators.ks.n_bootstrap"),
    ("run", "validation.validators.mmd.n_bootstrap=-1", "validation.validators.mmd.n_bootstrap"),
    ("run", "validation.validators.ks.alpha=-0.05", "validation.validators.ks.alpha"),
    ("run", "validation.validators.ks.alpha=0", "validation.validators.ks.alpha"),
    ("run", "validation.validators.ks.alpha=1.5", "validation.validators.ks.alpha"),
    ("run", "validation.validators.ks.quantile=1", "validation.validators.ks.quantile"),
    ("run", "validation.validators.mmd.tolerance=-1", "validation.validators.mmd.tolerance"),
    ("run", "validation=image_full;validation.validators.prdc.k=0", "validation.validators.prdc.k"),
    ("run", "validation=image_full;validation.validators.c2st.folds=1", "validation.validators.c2st.folds"),
    ("run", "validation=image_full;validation.featurizers.effnet.batch_size=0", "validation.featurizers.effnet.batch_size"),
    ("run", "gate.default.fail_below=1.5", "gate.default.fail_below"),
    ("run", "gate.default.warn_below=-0.1", "gate.default.warn_below"),
    ("run", "gate.default.severity=loud", "gate.default.severity"),
    ("run", "+gate.validators.mmd.fail_below=2", "gate.validators.mmd.fail_below"),
    ("run", "+gate.classes.8.mmd.warn_below=abc", "gate.classes.8.mmd.warn_below"),
    ("run", "gate.incomputable=panic", "gate.incomputable"),
    ("run", "gate.ci=yes", "gate.ci"),
    ("run", "gate.filter.k=0", "gate.filter.k"),
    ("run", "gate.filter.far_quantile=0", "gate.filter.far_quantile"),
    ("run", "gate.filter.min_density=2", "gate.filter.min_density"),
    ("run", "gate.filter.max_drop_share=1.5", "gate.filter.max_drop_share"),
    ("plan", "policy.target=abc", "policy.target"),
    ("plan", "policy.max_synthetic_fraction=abc", "policy.max_synthetic_fraction"),
    ("validate", "seed=abc", "seed"),
    ("validate", "report.examples=0", "report.examples"),
    ("validate", "synthetic.format=tiff", "synthetic.format"),
    ("validate", "validation.validators.mmd.n_permutations=0", "validation.validators.mmd.n_permutations"),
    ("validate", "gate.default.fail_below=-1", "gate.default.fail_below"),
    ("merge", f"merge.into={FILE}", "merge.into"),
    ("merge", "merge.format=tiff", "merge.format"),
    ("merge", "++merge.lock_timeout=-1", "merge.lock_timeout"),
    ("merge", "++allow_targets=mypkg", "allow_targets"),
    ("collect", f"merge.into={FILE}", "merge.into"),
    ("collect", "validate=maybe", "validate"),
    ("collect", "shards=a", "shards"),
    ("stress", "seed=abc", "seed"),
    ("stress", "base.format=tiff", "base.format"),
    ("evaluate", "batch_size=0", "batch_size"),
    ("evaluate", "limits.max_error=2", "limits.max_error"),
    ("evaluate", "limits.max_mce=-1", "limits.max_mce"),
    ("evaluate", "limits.max_failure_rate=abc", "limits.max_failure_rate"),
    ("evaluate", "limits.max_ce={gaussian_noise: -1}", "limits.max_ce"),
    ("evaluate", "+limits.max_error_at_severity={high: 0.5}", "limits.max_error_at_severity"),
    ("evaluate", "limits.fail_on_leak=maybe", "limits.fail_on_leak"),
]


def compose_cfg(command, overrides):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        return compose(config_name=command, overrides=overrides)


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text("not a folder\n")
    return f


@pytest.mark.parametrize("command,override,key", BAD, ids=[f"{c}:{o}" for c, o, _ in BAD])
def test_bad_value_names_the_key(command, override, key, a_file):
    cfg = compose_cfg(command, override.replace(FILE, str(a_file)).split(";"))
    with pytest.raises(ConfigError) as e:
        check_options(command, cfg)
    msg = str(e.value)
    assert msg.startswith(f"{key}: must be "), msg
    assert "\n" not in msg and ", got " in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_default_configs_pass(command):
    check_options(command, compose_cfg(command, []))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "validation").glob("*.yaml")))
def test_every_validation_config_passes(option):
    check_options("run", compose_cfg("run", [f"validation={option}"]))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_passes(option):
    check_options("run", compose_cfg("run", [f"+experiment={option}"]))


def test_good_values_pass(tmp_path):
    check_options("run", compose_cfg("run", ["workers=4", "chunk=1", "seed=-3", "shard=3/4", "policy.target=median",
                                             "policy.target=120", "policy.rare_below=null", "policy.classes=[3,zebra]",
                                             f"merge.into={tmp_path}", "gate.default.fail_below=0.4",
                                             "validation.validators.ks.alpha=0.01"]))
    check_options("evaluate", compose_cfg("evaluate", ["limits.max_ce={gaussian_noise: 1.2}", "limits.max_mce=95",
                                                       "+limits.max_error_at_severity={3: 0.5}"]))


def test_message_reads_well():
    with pytest.raises(ConfigError, match=r"^workers: must be an integer >= 1, got 'two'$"):
        check_options("run", compose_cfg("run", ["workers=two"]))


def test_longtail_keep_larger_than_the_class():
    from synthgen.pipeline import load_dataset

    cfg = compose_cfg("run", ["dataset.longtail.keep=[8:500]"])
    with pytest.raises(ConfigError, match=r"^dataset\.longtail\.keep: class '8' has 174 samples"):
        load_dataset(cfg.dataset)


# --- end to end through the CLI, in-process --------------------------------------------------------

CLI = [
    (["workers=two"], "workers"),
    (["chunk=0"], "chunk"),
    (["plan", "policy.max_synthetic_fraction=abc"], "policy.max_synthetic_fraction"),
    (["validation.validators.ks.alpha=-0.05"], "validation.validators.ks.alpha"),
    (["merge", "run_dir=somewhere", f"merge.into={FILE}"], "merge.into"),
    (["dataset.longtail.keep=[8:500]"], "dataset.longtail.keep"),
    (["validation/validator=[ks,nope]"], "validation/validator=nope"),
]


@pytest.mark.parametrize("args,key", CLI, ids=[" ".join(a) for a, _ in CLI])
def test_cli_one_line_exit_2_no_run_folder(args, key, tmp_path, a_file, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["synthgen"])  # main() rewrites sys.argv for Hydra
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main([a.replace(FILE, str(a_file)) for a in args] + [f"hydra.run.dir={run_dir}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"synthgen: error: {key}: "), err
    assert not run_dir.exists()
    if "validator=" in key:  # a validator list names the options
        assert "available: " in err[0] and "c2st" in err[0]
