"""Every YAML in conf/ composes, and every component it names can be built (constructors only store
parameters, so this is cheap); every experiment composes with the command it is meant for."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import get_class, get_object, instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = ["run", "plan", "validate", "merge", "collect", "stress", "evaluate"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("name", PRIMARY)
def test_primary_configs_compose(name):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name=name, return_hydra_config=True)
    assert cfg.hydra.job.name == name


@pytest.mark.parametrize("option", options("generator"))
def test_every_generator_builds(option):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run", overrides=[f"generator={option}"])
    g = instantiate(cfg.generator)
    assert g.modality in ("image", "text", "points") and len(g.config_digest) == 64


@pytest.mark.parametrize("option", options("validation"))
def test_every_validation_config_builds(option):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="validate", overrides=[f"validation={option}"])
    node = OmegaConf.to_container(cfg.validation, resolve=True)
    featurizers = node.get("featurizers") or {"default": node.get("featurizer")}
    for f in featurizers.values():
        assert hasattr(instantiate(f), "transform")
    for v in node["validators"].values():
        built = instantiate({k: x for k, x in v.items() if k != "features"})
        assert hasattr(built, "validate") or hasattr(built, "validate_samples")


@pytest.mark.parametrize("option", options("dataset"))
def test_every_dataset_target_imports(option):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run", overrides=[f"dataset={option}"])
    assert callable(get_object(cfg.dataset._target_))


@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_composes(option):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run", overrides=[f"+experiment={option}"])
    assert cfg.generator._target_ and cfg.dataset._target_
    assert callable(get_class(cfg.generator._target_))


@pytest.mark.parametrize("option", options("stress"))
def test_every_stress_suite_composes(option):
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="stress", overrides=[f"stress={option}"])
    assert cfg.stress
