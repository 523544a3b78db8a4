"""Every plugin passes its contract, found by discovery: one test per (plugin, check).

Plugins come from the packaged configs and registries (:func:`tests.contracts.discover`); which checks
apply is derived from what a plugin is (:data:`tests.contracts.CHECKS`).  What this file adds is how
to build each plugin cheaply and on which small real data:

* a generator fits on the dataset its packaged experiment pairs it with (``conf/experiment``), shrunk
  (:data:`DATASETS`), or on its modality's default; classes: the experiment's, else the dataset's
  (at most two); a ``cache_dir`` parameter gets a scratch folder;
* validators and featurizers are built from every distinct YAML node they appear in, with
  :data:`FAST` applied to the parameters they accept;
* :data:`SETTINGS`, :data:`SLOW` and :data:`EXCLUDED` are keyed by plugin id, and a key naming no
  plugin fails :func:`test_every_plugin_is_covered`.

Test ids read ``generator/image_augment::check_determinism``; ``-k image_augment`` selects one plugin.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.config import plain
from synthgen.sample import Sample

from . import contracts as C

FORTUNES = Path("/usr/share/games/fortunes")
SMALL_SENSOR = {"beams": 16, "azimuth_resolution": 1.0, "range_noise": 0.02, "dropout": 0.05}

#: generic speed-ups, applied to any validator, featurizer or generator whose constructor takes them
FAST = {"n_bootstrap": 20, "n_permutations": 100, "max_clouds": 8, "n_points": 256}


def _tiny_pipeline(tmp_factory) -> dict:
    from synthgen.generators.image.diffusion import build_random_pipeline

    return {"path": str(build_random_pipeline(tmp_factory.mktemp("sd") / "tiny-sd", "tiny", 32))}


#: per-plugin constructor overrides, for the few plugins whose YAML needs a local file or is slow;
#: a callable value is called with pytest's tmp_path_factory
SETTINGS: dict[str, dict] = {
    "generator/image_ddpm": {"resolution": 8, "block_out_channels": [8, 16], "train_steps": 3, "batch_size": 8,
                             "inference_steps": 2, "sample_batch": 4, "num_train_timesteps": 50, "max_seconds": None},
    "generator/image_diffusion": {"steps": 2, "batch_size": 4, "pipeline": _tiny_pipeline},
    "generator/points_lidar": {"sensor": SMALL_SENSOR, "n_objects": [2, 4]},
}

#: plugins whose checks are marked slow (they run in CI, not in a quick -m "not slow" pass)
SLOW: dict[str, str] = {
    "generator/image_ddpm": "trains a (tiny) diffusers UNet per fit",
    "generator/image_diffusion": "builds and runs a (tiny) Stable Diffusion pipeline",
}

#: plugins left out of the contracts; each needs a reason (it is shown as the skip reason)
EXCLUDED: dict[str, str] = {}


# --------------------------------------------------------------------------------------------------
# small real data, loaded once and only when a test needs it
# --------------------------------------------------------------------------------------------------

def _per_class(ds, k: int, classes=None):
    keep = []
    for c in classes or ds.classes:
        keep.extend(ds.by_class(c)[:k])
    out = ds.subset(keep)
    out.classes = [c for c in (classes or ds.classes) if ds.by_class(c)]
    return out


@functools.cache
def digits():
    from synthgen.io.digits import load_digits_dataset

    return _per_class(load_digits_dataset(32), 30, ["0", "1", "3"])


@functools.cache
def coins():
    from synthgen.io.skimage_scenes import load_coins_detection

    return load_coins_detection()


@functools.cache
def fortunes():
    from synthgen.io.fortunes import read_fortunes

    if not (FORTUNES / "love").exists():
        pytest.skip(f"{FORTUNES} (Debian package fortunes) is not installed")
    return _per_class(read_fortunes(str(FORTUNES), categories=["love", "kids", "food"], max_chars=400), 24)


@functools.cache
def pii():
    from synthgen.io.jsonl import read_jsonl

    return read_jsonl("pkg://synthgen.generators.text/data/pii_seed.jsonl")


@functools.cache
def clouds():
    """CGAL's real spheres and boxes (256 points, 2 headings per file), else synthetic ones."""
    from synthgen.io.cgal import ARCHIVE, CLASSES, read_cgal

    if Path(ARCHIVE).exists():
        return read_cgal(classes={c: CLASSES[c] for c in ("sphere", "box")}, n_points=256, samples_per_shape=2)
    pytest.importorskip("open3d")
    from synthgen.generators.points import MeshGenerator

    g = MeshGenerator({"sphere": {"primitive": "sphere"}, "box": {"primitive": "box"}}, n_points=256).fit(None)
    from synthgen.dataset import Dataset

    s = [Sample(x.id, x.data, x.label, {}, modality="points") for c in ("sphere", "box") for x in g.generate(c, 16, 0)]
    return Dataset(s, ["sphere", "box"], "synthetic spheres and boxes", "npz", "points", "classification")


@functools.cache
def scans():
    pytest.importorskip("open3d")
    from synthgen.generators.points.lidar import simulated_scans

    return simulated_scans({"car": 3, "pedestrian": 2, "cyclist": 3}, seed=0, sensor=SMALL_SENSOR)


#: conf/dataset/<name>.yaml -> a small stand-in (the same source, fewer and smaller samples)
DATASETS = {"digits": digits, "coins": coins, "fortunes": fortunes, "pii_seed": pii, "cgal": clouds,
            "points_lidar_scans": scans}
MODALITY_DEFAULT = {"image": "digits", "text": "fortunes", "points": "cgal"}


@functools.cache
def experiment_pairs(conf: str) -> dict[str, tuple[str, list[str] | None]]:
    """generator name -> (dataset name, classes) from the first packaged experiment that uses it."""
    from omegaconf import OmegaConf

    out = {}
    for f in sorted((Path(conf) / "experiment").glob("*.yaml")):
        cfg = OmegaConf.to_container(OmegaConf.load(f), resolve=False) or {}
        chosen = {}
        for d in cfg.get("defaults") or []:
            if isinstance(d, dict):
                for k, v in d.items():
                    chosen[k.split("/")[-1].strip()] = v
        if "generator" in chosen and "dataset" in chosen:
            out.setdefault(chosen["generator"], (chosen["dataset"], (cfg.get("policy") or {}).get("classes")))
    return out


# --------------------------------------------------------------------------------------------------
# building plugins
# --------------------------------------------------------------------------------------------------

def _skip_if_missing_extra(e: ModuleNotFoundError):
    """A plugin whose optional dependency is not installed is skipped, with the reason."""
    top = (e.name or "").split(".")[0]
    if top and top != "synthgen" and importlib.util.find_spec(top) is None:
        pytest.skip(f"optional dependency '{top}' is not installed")
    raise e


def _defaults(target: str) -> dict:
    """Constructor parameters and their defaults, following ``**kw`` up the class hierarchy."""
    from hydra.utils import get_object

    obj = get_object(target)
    chain = [obj] if not inspect.isclass(obj) else []
    for k in obj.__mro__ if inspect.isclass(obj) else ():
        if k is object or "__init__" not in vars(k):
            continue
        chain.append(k.__init__)
        if not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(k.__init__).parameters.values()):
            break  # **kw stops here: the parents' parameters are not reachable
    out: dict = {}
    for fn in reversed(chain):  # subclasses last: their defaults win
        for n, p in inspect.signature(fn).parameters.items():
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                out[n] = p.default
    return out


def _effective(node: dict, extra: dict | None = None) -> dict:
    """The node with every constructor default filled in (two nodes that build the same object
    compare equal), :data:`FAST` applied to the parameters the constructor takes, then ``extra``."""
    accepts = _defaults(node["_target_"])
    out = {"_target_": node["_target_"]}
    out.update({n: d for n, d in accepts.items() if d is not inspect.Parameter.empty})
    out.update({k: v for k, v in node.items() if k != "_target_"})
    for k, v in FAST.items():
        if k in accepts:
            out[k] = min(v, out[k]) if isinstance(out.get(k), int) else v
    out.update(extra or {})
    return out


def makers(plugin: C.Plugin, extra: dict | None = None) -> list:
    """One factory per distinct configuration of the plugin (each call builds a fresh instance)."""
    from hydra.utils import instantiate

    seen, out = [], []
    for node in plugin.nodes:
        eff = _effective(node, extra)
        key = C.dumps(plain(eff))
        if key not in seen:
            seen.append(key)
            out.append(lambda eff=eff: instantiate(eff, _convert_="all"))
    return out


_GENERATOR_CASES: dict[str, C.GeneratorCase] = {}


def generator_case(plugin: C.Plugin, tmp_factory) -> C.GeneratorCase:
    if plugin.id in _GENERATOR_CASES:
        return _GENERATOR_CASES[plugin.id]
    """The generator built from its YAML (+ FAST, SETTINGS, a scratch cache_dir) and its real data:
    the dataset its experiment pairs it with (a small stand-in from DATASETS), else its modality's."""
    cls = plugin.cls()
    extra = {k: v(tmp_factory) if callable(v) else v for k, v in SETTINGS.get(plugin.id, {}).items()}
    if "cache_dir" in inspect.signature(cls.__init__).parameters:
        extra["cache_dir"] = str(tmp_factory.mktemp("cache"))  # never the user's cache
    make = makers(plugin, extra)[0]
    dataset, classes = experiment_pairs(str(C.conf_root())).get(plugin.name, (None, None))
    if dataset not in DATASETS:
        dataset, classes = MODALITY_DEFAULT.get(getattr(cls, "modality", None), "digits"), None
    real = DATASETS[dataset]()
    labels = [c for c in (classes or real.classes) if real.by_class(c)][:2]
    case = C.GeneratorCase(make, real, labels, n=4, seed=7, name=plugin.name)
    _GENERATOR_CASES[plugin.id] = case
    return case


def _halves(ds, classes, k: int):
    real = {c: ds.by_class(c)[:k] for c in classes}
    syn = {c: ds.by_class(c)[k:2 * k] for c in classes}
    return real, syn


def modality_samples(modality: str, k: int = 12):
    """(real, synthetic) per class: distinct real samples of two classes of the modality's data."""
    if modality == "image":
        return _halves(digits(), ["0", "1"], k)
    if modality == "text":
        return _halves(fortunes(), ["love", "kids"], k)
    return _halves(clouds(), ["sphere", "box"], k)


def _optional(load, k: int) -> list[Sample]:
    """The first ``k`` samples of an optional source, or none when it is not installed."""
    try:
        return load().samples[:k]
    except pytest.skip.Exception:
        return []


def featurizer_samples(modality: str) -> list[Sample]:
    """A few real samples of several sources (sizes, tasks) of the modality."""
    if modality == "image":
        return digits().samples[:5] + coins().samples[:2]
    if modality == "text":
        return _optional(fortunes, 5) + pii().samples[:3]
    return clouds().samples[:4] + _optional(scans, 2)


def format_samples(modality: str) -> list[Sample]:
    if modality == "image":
        return coins().samples[:2] + digits().samples[:2]
    if modality == "text":
        return pii().samples[:3] + _optional(fortunes, 2)
    return clouds().samples[:4]  # one point count: what every point format holds without options


def corruption_input(modality: str):
    """A tiny annotated input: a digit with its box, mask and keypoints plus a box-only object; a
    text with entity spans; a cloud with per-point labels and instance ids."""
    if modality == "image":
        img = digits().samples[0].data
        mask = (img[:, :, 0] > 60).astype(np.uint8)
        ys, xs = np.nonzero(mask)
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]
        obj = {"category": "0", "bbox": box, "mask": mask, "keypoints": [[float(xs.mean()), float(ys.mean()), 2]]}
        return img, {"objects": [obj, {"category": "0", "bbox": [1.0, 1.0, 4.0, 3.0]}]}
    if modality == "text":
        s = max(pii().samples, key=lambda s: len(s.annotations.get("spans", [])))
        return s.data, {"spans": [dict(x) for x in s.annotations["spans"]]}
    p = clouds().samples[0].data
    labels = (p[:, 2] > 0).astype(np.int64) + 2 * (p[:, 0] > 0)
    return p, {"point_labels": labels, "instance_ids": labels * 10 + 1}


def subjects(plugin: C.Plugin, kind: str, tmp_path: Path, tmp_factory):
    """What the checks of ``kind`` take, one per configuration (or modality) of the plugin."""
    if kind == "generator":
        return [generator_case(plugin, tmp_factory)]
    if kind in ("validator:features", "validator:folds"):
        return makers(plugin)
    if kind == "validator:samples":
        out, missing = [], []
        for m in plugin.modalities or C.MODALITIES:
            try:
                real, syn = modality_samples(m)
            except pytest.skip.Exception as e:  # that modality's data is not installed: check the others
                missing.append(str(e))
                continue
            out.extend(C.SampleValidatorCase(make, real, syn, m) for make in makers(plugin))
        if not out:
            pytest.skip("; ".join(missing))
        return out
    if kind == "featurizer":
        return [C.FeaturizerCase(make, featurizer_samples(make().modality)) for make in makers(plugin)]
    if kind == "format":
        return [C.FormatCase(plugin.obj, format_samples(plugin.obj.modality), tmp_path)]
    if kind == "corruption":
        return [C.CorruptionCase(plugin.obj, *corruption_input(plugin.obj.modality))]
    raise AssertionError(f"{plugin.id}: no subject for kind {kind!r}")


def run_check(plugin: C.Plugin, check, tmp_path: Path, tmp_factory) -> None:
    kind = C.contract_kind(plugin)
    try:
        for subject in subjects(plugin, kind, tmp_path, tmp_factory):
            check(subject)
    except ModuleNotFoundError as e:
        _skip_if_missing_extra(e)


# --------------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------------

PLUGINS = C.discover()


def _params():
    out = []
    for p, check in C.contract_cases(PLUGINS, EXCLUDED):
        marks = [pytest.mark.slow] if p.id in SLOW else []
        out.append(pytest.param(p, check, id=C.case_id(p, check), marks=marks))
    for p in PLUGINS:
        if p.id in EXCLUDED:  # listed, never silently absent
            out.append(pytest.param(p, None, id=f"{p.id}::excluded", marks=pytest.mark.skip(reason=EXCLUDED[p.id] or "no reason")))
    return out


@pytest.mark.parametrize("plugin,check", _params())
def test_contract(plugin, check, tmp_path, tmp_path_factory):
    run_check(plugin, check, tmp_path, tmp_path_factory)


def test_every_plugin_is_covered():
    problems = C.coverage_problems(PLUGINS, EXCLUDED, known=list(SETTINGS) + list(SLOW))
    assert not problems, "\n".join(problems)


def test_discovery_misses_nothing():
    """Cross-check discovery against the raw files and registries."""
    from synthgen.io.formats import FORMATS
    from synthgen.stress import corruptions

    conf = C.conf_root()
    by_kind = {}
    for p in PLUGINS:
        by_kind.setdefault(p.kind, []).append(p)
    assert {p.name for p in by_kind["generator"]} == {f.stem for f in (conf / "generator").glob("*.yaml")}
    targets = set()
    for f in (conf / "validation").rglob("*.yaml"):
        targets |= set(re.findall(r"_target_:\s*(synthgen\.[\w.]+)", f.read_text()))
    assert targets == {p.target for p in by_kind["validator"] + by_kind["featurizer"]}
    assert {p.name for p in by_kind["format"]} == set(FORMATS)
    assert len(by_kind["corruption"]) == len(corruptions.all_corruptions())
    for kind in ("generator", "validator", "featurizer", "format", "corruption"):
        assert by_kind[kind], f"no {kind} discovered"


# --------------------------------------------------------------------------------------------------
# a new plugin is picked up by itself
# --------------------------------------------------------------------------------------------------

GEN_MODULE = '''
"""A throwaway generator: checkerboards in a random colour."""
import numpy as np

from synthgen.generators.base import BaseGenerator


class CheckerGenerator(BaseGenerator):
    modality = "image"
    version = "1"
    short_name = "checker"

    def __init__(self, size: int = 16, squares: int = 4):
        self.size = size
        self.squares = squares

    def _make(self, label, index, rng, seed):
        n = int(self.size)
        k = max(1, n // int(self.squares))
        yy, xx = np.indices((n, n))
        colour = rng.integers(0, 256, 3).astype(np.uint8)
        img = (((yy // k + xx // k) % 2).astype(np.uint8)[:, :, None] * colour).astype(np.uint8)
        return img, {}, (), {"colour": colour.tolist()}
'''

VAL_MODULE = '''
"""A throwaway featurizer and validator."""
import numpy as np

from synthgen.validators.distribution import MetricValidator


class MeanColourFeaturizer:
    modality = "image"
    feature_names = ["mean_r", "mean_g", "mean_b"]

    def transform(self, samples):
        if not samples:
            return np.zeros((0, 3))
        return np.stack([np.asarray(s.data, np.float64).reshape(-1, s.data.shape[2])[:, :3].mean(0) for s in samples])


class MeanGapValidator(MetricValidator):
    name = "mean_gap"
    statistic_name = "mean_distance"
    metrics_spec = {"mean_gap": False}  # lower is better

    def metrics(self, a, other, rng):
        return {"mean_gap": float(np.linalg.norm(a.mean(0) - other.mean(0)))}


class NotAValidator:
    name = "nothing"
'''


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """A copy of the packaged conf tree with a new generator YAML and a new validation YAML, and a
    package on sys.path with their classes."""
    conf = tmp_path / "conf"
    shutil.copytree(C.conf_root(), conf, ignore=shutil.ignore_patterns("__pycache__"))
    pkg = tmp_path / "site" / "throwaway_plugins"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "gen.py").write_text(GEN_MODULE)
    (pkg / "val.py").write_text(VAL_MODULE)
    (conf / "generator" / "image_checker.yaml").write_text("_target_: throwaway_plugins.gen.CheckerGenerator\nsize: 16\n")
    # a validator and a featurizer are one YAML each in their config groups ...
    (conf / "validation" / "featurizer" / "colour.yaml").write_text(
        "# @package validation.featurizers\ncolour: {_target_: throwaway_plugins.val.MeanColourFeaturizer}\n")
    (conf / "validation" / "validator" / "mean_gap.yaml").write_text(
        "# @package validation.validators\nmean_gap: {_target_: throwaway_plugins.val.MeanGapValidator}\n")
    # ... and a bundle that chooses them is a list
    (conf / "validation" / "image_throwaway.yaml").write_text(
        "defaults:\n  - featurizer: [colour]\n  - validator: [mean_gap, ks]\n  - _self_\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield conf
    for m in [m for m in sys.modules if m.split(".")[0] == "throwaway_plugins"]:
        del sys.modules[m]


def test_new_plugins_are_picked_up_by_themselves(throwaway, tmp_path, tmp_path_factory):
    plugins = C.discover(conf=throwaway)
    ids = {p.id for p in plugins}
    assert {"generator/image_checker", "validator/MeanGapValidator", "featurizer/MeanColourFeaturizer"} <= ids
    assert len(plugins) == len(PLUGINS) + 3, "the new nodes add three plugins; the copied KS node is deduplicated"
    assert not C.coverage_problems(plugins, EXCLUDED, known=list(SETTINGS) + list(SLOW))
    cases = {C.case_id(p, c): (p, c) for p, c in C.contract_cases(plugins)}
    want = ([f"generator/image_checker::{c.__name__}" for c in C.GENERATOR_CHECKS]
            + [f"validator/MeanGapValidator::{c.__name__}" for c in C.FEATURE_VALIDATOR_CHECKS]
            + [f"featurizer/MeanColourFeaturizer::{c.__name__}" for c in C.FEATURIZER_CHECKS])
    assert set(want) <= set(cases)
    ks = next(p for p in plugins if p.id == "validator/KSValidator")
    assert "validation/image_throwaway.yaml:validators.ks" in ks.sources
    gap = next(p for p in plugins if p.id == "validator/MeanGapValidator")
    assert gap.modalities == ("image",), "the bundle that chooses it says which data it reads"
    for key in want:  # and the checks run (and pass) on them, built the same way as the packaged plugins
        p, check = cases[key]
        _GENERATOR_CASES.pop(p.id, None)
        run_check(p, check, tmp_path, tmp_path_factory)
    _GENERATOR_CASES.pop("generator/image_checker", None)


def test_coverage_fails_for_uncovered_plugins(throwaway):
    for name, cls in (("nothing", "NotAValidator"), ("missing", "NoSuchValidator")):
        (throwaway / "validation" / "validator" / f"{name}.yaml").write_text(
            f"# @package validation.validators\n{name}: {{_target_: throwaway_plugins.val.{cls}}}\n")
    plugins = C.discover(conf=throwaway)
    problems = "\n".join(C.coverage_problems(plugins, {"generator/image_checker": ""}, known=["generator/image_gone"]))
    assert "validator/NotAValidator: no contract applies" in problems
    assert "validator/NoSuchValidator: no contract applies" in problems
    assert "generator/image_checker: excluded from the contracts without a reason" in problems
    assert "generator/image_gone: named in the contract settings but no such plugin is discovered" in problems
    assert not any(p.id == "validator/NotAValidator" for p, _ in C.contract_cases(plugins))


# --------------------------------------------------------------------------------------------------
# the checks catch what they are meant to catch
# --------------------------------------------------------------------------------------------------

def _broken_generators():
    from synthgen.generators.base import BaseGenerator

    class Checker(BaseGenerator):
        modality = "image"
        short_name = "checker"

        def __init__(self, size: int = 8):
            self.size = size

        def _make(self, label, index, rng, seed):
            return np.full((self.size, self.size, 3), rng.integers(256), np.uint8), {}, (), {}

    class GlobalRng(Checker):  # draws from the shared global RNG
        def _make(self, label, index, rng, seed):
            return np.full((self.size, self.size, 3), np.random.randint(256), np.uint8), {}, (), {}

    class Stateful(Checker):  # sample i depends on what was generated before it
        def _make(self, label, index, rng, seed):
            self._calls = getattr(self, "_calls", 0) + 1
            return np.full((self.size, self.size, 3), self._calls, np.uint8), {}, (), {}

    class Derived(Checker):  # computes in the constructor
        def __init__(self, size: int = 8):
            self.size = size
            self.area = size * size

    class NoSeedInId(Checker):
        def sample_id(self, label, index, seed, config_digest=None):
            return f"checker-{label}-{index}"

    class KeyErrorOnUnknownClass(Checker):
        def _make(self, label, index, rng, seed):
            return np.full((self.size, self.size, 3), {"0": 10, "1": 20}[label], np.uint8), {}, (), {}

    return {"global_rng": (GlobalRng, C.check_determinism), "stateful": (Stateful, C.check_shard_independence),
            "derived": (Derived, C.check_params_only), "no_seed_in_id": (NoSeedInId, C.check_ids),
            "keyerror": (KeyErrorOnUnknownClass, C.check_generator_errors)}


class _NaNValidator:
    name, statistic_name, reads = "nan", "x", "features"

    def validate(self, real, synthetic, feature_names, seed=0):
        from synthgen.validators.result import ClassResult, ValidationResult

        return ValidationResult("nan", "x", {c: ClassResult(c, "fail", statistic=float("nan"), score=float("nan")) for c in synthetic})


class _RaisingValidator(_NaNValidator):
    def validate(self, real, synthetic, feature_names, seed=0):
        from synthgen.validators.distribution import KSValidator

        from synthgen.errors import InsufficientDataError

        if any(len(real.get(c, ())) < 10 or len(y) < 5 for c, y in synthetic.items()):
            raise InsufficientDataError("too little data")
        return KSValidator(n_bootstrap=10).validate(real, synthetic, feature_names, seed)


class _AlwaysPass(_NaNValidator):
    def validate(self, real, synthetic, feature_names, seed=0):
        from synthgen.validators.result import ClassResult, ValidationResult

        return ValidationResult("pass", "x", {c: ClassResult(c, "pass", statistic=0.0, score=1.0) for c in synthetic})


class _IntFeaturizer:
    modality = "image"
    feature_names = ("mean",)

    def transform(self, samples):
        return np.array([[int(np.asarray(s.data).mean())] for s in samples]).reshape(len(samples), 1)


class _BadEmptyFeaturizer(_IntFeaturizer):
    def transform(self, samples):
        return np.array([[float(np.asarray(s.data).mean())] for s in samples])


class _OverwritingJsonl:
    name, modality = "jsonl", "text"

    def write(self, samples, classes, out, **kw):
        from synthgen.io.jsonl import write_jsonl

        return write_jsonl(samples, classes, out, overwrite=True)

    def read(self, path, **kw):
        from synthgen.io.jsonl import read_jsonl

        return read_jsonl(path)


class _RawErrorsJsonl(_OverwritingJsonl):
    def read(self, path, **kw):
        from synthgen.errors import DatasetError

        try:
            return super().read(path, **kw)
        except DatasetError as e:
            raise ValueError(f"line\nbreak: {e}") from None


def _in_place(data, annotations, severity, rng):
    data[0, 0] = 255 - data[0, 0]  # modifies the caller's image
    return data, annotations, {}


def _broken_cases(tmp_path):
    from synthgen.stress.corruptions import Corruption

    out = {}
    for key, (cls, check) in _broken_generators().items():
        out[f"generator-{key}"] = (check, C.GeneratorCase(cls, digits(), ["0", "1"], n=4, seed=7))
    out["validator-nan"] = (C.check_result_typing, _NaNValidator)
    out["validator-raises-on-little-data"] = (C.check_too_little_data, _RaisingValidator)
    out["validator-always-passes"] = (C.check_anchor, _AlwaysPass)
    out["featurizer-int"] = (C.check_featurizer_output, C.FeaturizerCase(_IntFeaturizer, digits().samples[:4]))
    out["featurizer-empty-shape"] = (C.check_featurizer_empty, C.FeaturizerCase(_BadEmptyFeaturizer, digits().samples[:4]))
    out["format-overwrites"] = (C.check_format_refuses_overwrite, C.FormatCase(_OverwritingJsonl(), pii().samples[:3], tmp_path))
    out["format-raw-errors"] = (C.check_format_bad_input, C.FormatCase(_RawErrorsJsonl(), pii().samples[:3], tmp_path))
    img, ann = corruption_input("image")
    out["corruption-in-place"] = (C.check_corruption_severities,
                                  C.CorruptionCase(Corruption("in_place", "image", "x", "edge-case", _in_place), img.copy(), ann))
    return out


BROKEN = ["generator-global_rng", "generator-stateful", "generator-derived", "generator-no_seed_in_id", "generator-keyerror",
          "validator-nan", "validator-raises-on-little-data", "validator-always-passes", "featurizer-int",
          "featurizer-empty-shape", "format-overwrites", "format-raw-errors", "corruption-in-place"]


@pytest.mark.parametrize("key", BROKEN)
def test_checks_catch_broken_plugins(key, tmp_path):
    check, subject = _broken_cases(tmp_path)[key]
    with pytest.raises(AssertionError):
        check(subject)


def test_one_validator_protocol_reads_names_the_one_method():
    """synthgen.protocols: ``reads`` picks the method; first-round flags and a missing method are refused."""
    from synthgen.protocols import judge, reads
    from synthgen.validators.crossfit import UtilityValidator
    from synthgen.validators.distribution import KSValidator
    from synthgen.validators.memorisation import DuplicateValidator

    assert (reads(KSValidator()), reads(DuplicateValidator()), reads(UtilityValidator())) == ("features", "samples", "folds")

    class Legacy(_AlwaysPass):
        needs_samples = True

    class Wrong(_AlwaysPass):
        reads = "pixels"

    class NoMethod:
        name, statistic_name, reads = "x", "y", "samples"

    with pytest.raises(TypeError, match="needs_samples / needs_folds are replaced by one attribute: reads"):
        reads(Legacy())
    with pytest.raises(TypeError, match=r"Wrong.reads: must be one of features, samples, folds, got 'pixels'"):
        reads(Wrong())
    with pytest.raises(TypeError, match=r"NoMethod: reads = 'samples' but it has no validate_samples\(\)"):
        reads(NoMethod())
    real, syn = {"a": np.zeros((12, 2))}, {"a": np.zeros((6, 2))}
    out = judge(_AlwaysPass(), seed=0, labels=["a"], features=(real, syn, ["f0", "f1"]))
    assert out.per_class["a"].status == "pass"
    # a folds validator given no folds judges the matrices, where it refuses to be circular
    u = judge(UtilityValidator(), seed=0, labels=["a"], folds=[], features=(real, syn, ["f0", "f1"]))
    assert u.per_class["a"].status == "incomputable"
