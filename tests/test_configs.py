"""Every YAML in conf/ composes, and every component it names can be built (constructors only store
parameters, so this is cheap); every experiment composes with the command it is meant for."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import get_class, get_object, instantiate

from synthgen.commands import COMMANDS

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = list(COMMANDS)  # every command has its primary config conf/<command>.yaml


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
    """Each bundle builds through the pipeline's own code path (chosen components only)."""
    from synthgen.validate import _featurizers, _validators

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="validate", overrides=[f"validation={option}"])
    first = next(iter(cfg.validation.featurizers.values()))
    modality = get_class(first._target_).modality
    feats = _featurizers(cfg.validation, modality)
    assert feats and all(hasattr(f, "transform") for f in feats.values())
    validators, which = _validators(cfg.validation, list(feats))
    assert validators and all(hasattr(v, "validate") or hasattr(v, "validate_samples") for v in validators.values())
    assert set(validators) == {k for k, n in cfg.validation.validators.items() if n.get("_target_")}


@pytest.mark.parametrize("option", options("validation/validator"))
def test_every_validator_option_is_one_yaml(option):
    """A validator is one YAML in conf/validation/validator/: selectable alone, built by the pipeline."""
    from synthgen.validate import _featurizers, _validators

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="validate", overrides=[f"validation/validator=[{option}]", "validation=image_full"])
    assert [k for k, n in cfg.validation.validators.items() if n.get("_target_")] == [option]
    feats = {"stats": None, "effnet": None}  # names only: building the validators needs no featurizer
    validators, _ = _validators(cfg.validation, list(feats))
    assert list(validators) == [option]


def test_validator_list_override_replaces_the_bundle():
    """'validation/validator=[ks,mmd,c2st]' chooses exactly these; the bundle's settings for them stay."""
    from synthgen.validate import _validators

    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        cfg = compose(config_name="run", overrides=["validation/validator=[ks,mmd,c2st]"])
        default = compose(config_name="run")
    validators, which = _validators(cfg.validation, ["stats", "auto"])
    assert list(validators) == ["ks", "mmd", "c2st"]
    assert which == {"ks": "stats", "mmd": "stats", "c2st": "auto"}
    assert list(_validators(default.validation, ["stats", "auto"])[0]) == [
        "schema", "duplicates", "label_agreement_cf", "utility", "ks", "mmd", "bias"]


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


def test_output_formats_are_a_config_group():
    """One YAML per format in conf/output/ (plus auto), the same set as the format registry; choosing
    one sets output.format, and the writer options a format takes are declared there."""
    from synthgen.io.formats import FORMATS, writer_option_keys

    assert set(options("output")) == set(FORMATS) | {"auto"}
    with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
        for name in options("output"):  # every format with run; the other commands share the group: two each
            for command in ("run", "stress", "loop") if name in ("auto", "coco") else ("run",):
                cfg = compose(config_name=command, overrides=[f"output={name}"])
                assert cfg.output.format == name
        lidar = compose(config_name="run", overrides=["+experiment=lidar_insert"])
    assert lidar.output.format == "kitti" and lidar.output.kitti.camera == "kitti"
    assert writer_option_keys("kitti") == ("types", "camera") and writer_option_keys("coco") == ()
