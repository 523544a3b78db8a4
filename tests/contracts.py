"""Conformance suites every plugin must pass, and the discovery that finds the plugins.

Plugins are found, never listed by hand (scikit-learn's ``parametrize_with_checks``, albumentations'
coverage check): :func:`discover` reads the packaged Hydra configs (``conf/generator/*.yaml``; every
featurizer and validator of the ``validation/featurizer`` and ``validation/validator`` groups, deduplicated by ``_target_``), the format
registry (:data:`synthgen.io.formats.FORMATS`) and the corruption registry
(:data:`synthgen.stress.corruptions.REGISTRY`).  :data:`CHECKS` says which named checks apply to each
kind of plugin; :func:`contract_cases` pairs every discovered plugin with them and
:func:`coverage_problems` names any plugin no check covers.  ``tests/test_plugin_contracts.py`` turns
the pairs into one pytest test each, e.g. ``generator/image_augment::check_determinism``.

Each check takes one "case" (the plugin built cheaply plus small real data) and raises
``AssertionError`` naming what is wrong.  The older entry points still work::

    from tests.contracts import check_generator, check_validator
    def test_contract(): check_generator(lambda: MyGenerator(...), real_dataset, labels=["a"], n=6)
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import ConfigError, DatasetError
from synthgen.io.common import dumps
from synthgen.io.manifest import record
from synthgen.protocols import Featurizer, Generator, Validator
from synthgen.sample import Sample

MODALITIES = ("image", "text", "points")


def data_bytes(s: Sample) -> bytes:
    """A canonical byte form of a sample's data and annotations, for equality checks."""
    d = s.data
    if isinstance(d, np.ndarray):
        head = f"{d.dtype}{d.shape}".encode()
        body = np.ascontiguousarray(d).tobytes()
    elif isinstance(d, str):
        head, body = b"str", d.encode()
    else:
        head, body = type(d).__name__.encode(), dumps(d).encode()
    return head + body + dumps(s.annotations).encode()


def _raises(exc_type, fn: Callable[[], Any], what: str) -> BaseException:
    """``fn()`` must raise ``exc_type``; anything else is an AssertionError saying ``what`` was expected."""
    try:
        fn()
    except exc_type as e:
        return e
    except Exception as e:
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


def _no_raise(fn: Callable[[], Any], what: str):
    try:
        return fn()
    except Exception as e:
        raise AssertionError(f"{what}: raised {type(e).__name__}: {e}") from e


# ==================================================================================================
# discovery
# ==================================================================================================

@dataclass
class Plugin:
    """One discovered plugin.

    ``kind``: generator | validator | featurizer | format | corruption.  ``nodes``: the distinct YAML
    configurations it appears with (Hydra nodes, ``features:`` dropped), first one first; ``sources``:
    where each was found.  ``modalities``: the modalities it is used for (a generator's own; for a
    validator, those of the featurizers in the same validation files).  ``obj``: the registry entry
    (a :class:`~synthgen.io.formats.Format` or :class:`~synthgen.stress.corruptions.Corruption`).
    """

    kind: str
    name: str
    target: str
    nodes: list[dict] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    modalities: tuple[str, ...] = ()
    obj: Any = None

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def node(self) -> dict | None:
        return self.nodes[0] if self.nodes else None

    def cls(self):
        """The class a ``_target_`` names (imported now: cheap, heavy modules load on first use)."""
        from hydra.utils import get_object

        return get_object(self.target)


def conf_root() -> Path:
    """The packaged config tree (``synthgen.conf``)."""
    import synthgen.conf

    return Path(synthgen.conf.__file__).resolve().parent


def _load_yaml(path: Path) -> dict:
    from omegaconf import OmegaConf

    # not resolved: interpolations such as ${oc.env:...} belong to the run, not to the plugin
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}


def _class_name(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def discover_generators(conf: Path) -> list[Plugin]:
    out = []
    for f in sorted((conf / "generator").glob("*.yaml")):
        node = _load_yaml(f)
        target = node.get("_target_") if isinstance(node, dict) else None
        mod = f.stem.split("_", 1)[0]
        out.append(Plugin("generator", f.stem, str(target or ""), [node], [f"generator/{f.name}"],
                          (mod,) if mod in MODALITIES else ()))
    return out


def _option(path: Path) -> tuple[str, dict]:
    """The one ``name: node`` of a ``conf/validation/{validator,featurizer}/<name>.yaml``."""
    cfg = _load_yaml(path)
    if len(cfg) != 1:
        return path.stem, {}
    (name, node), = cfg.items()
    return str(name), node if isinstance(node, dict) else {}


def _bundle_lists(cfg: dict) -> dict[str, list[str]]:
    """``{"featurizer": [...], "validator": [...]}`` from a bundle's defaults list."""
    out: dict[str, list[str]] = {"featurizer": [], "validator": []}
    for entry in cfg.get("defaults") or []:
        if isinstance(entry, dict):
            for group, names in entry.items():
                group = str(group).split("@")[0].removeprefix("override ").strip()
                if group in out:
                    out[group] += [names] if isinstance(names, str) else list(names or [])
    return out


def discover_validation(conf: Path) -> list[Plugin]:
    """Every featurizer and validator of the ``validation/featurizer`` and ``validation/validator``
    config groups (one YAML each), one plugin per ``_target_``; the configurations they appear with in
    the bundles (``conf/validation/*.yaml``: the option's node with the bundle's settings merged in)
    are extra nodes, and the bundles that choose a validator give its modalities."""
    from omegaconf import OmegaConf

    found: dict[tuple[str, str], Plugin] = {}

    def add(kind, key, node, where, mods):
        if not isinstance(node, dict):
            return
        target = str(node.get("_target_") or "")
        node = {k: v for k, v in node.items() if k != "features"}  # the pipeline's key, not the plugin's
        p = found.setdefault((kind, target), Plugin(kind, _class_name(target) if target else f"<no _target_ in {where}>", target))
        if node not in p.nodes:
            p.nodes.append(node)
        p.sources.append(f"{where}:{key}")
        p.modalities = tuple(sorted(set(p.modalities) | set(mods)))

    options = {}
    for kind in ("featurizer", "validator"):
        for f in sorted((conf / "validation" / kind).glob("*.yaml")):
            name, node = _option(f)
            options[(kind, f.stem)] = (name, node)
            add(kind, f"{kind}s.{name}", node, f"validation/{kind}/{f.name}", ())
    for f in sorted((conf / "validation").glob("*.yaml")):
        cfg = _load_yaml(f)
        chosen = _bundle_lists(cfg)
        mods = set()
        for opt in chosen["featurizer"]:
            try:
                from hydra.utils import get_object

                m = getattr(get_object(options[("featurizer", opt)][1]["_target_"]), "modality", None)
            except Exception:  # noqa: BLE001 - an unimportable featurizer shows up as its own failing plugin
                m = None
            if m in MODALITIES:
                mods.add(m)
        for kind in ("featurizer", "validator"):
            body = cfg.get(f"{kind}s") or {}
            for opt in chosen[kind]:
                name, node = options.get((kind, opt), (opt, {}))
                merged = OmegaConf.to_container(OmegaConf.merge(node, body.get(name) or {}), resolve=False)
                add(kind, f"{kind}s.{name}", merged, f"validation/{f.name}", mods)
    plugins = list(found.values())
    names = [p.name for p in plugins]
    for p in plugins:  # two classes of one name in different modules: use the full target
        if names.count(p.name) > 1:
            p.name = p.target
    return plugins


def discover_formats(registry: dict | None = None) -> list[Plugin]:
    if registry is None:
        from synthgen.io.formats import FORMATS as registry
    return [Plugin("format", name, f"{f.module}.{f.reader}/{f.writer}", modalities=(f.modality,), obj=f)
            for name, f in registry.items()]


def discover_corruptions(registry: dict | None = None) -> list[Plugin]:
    if registry is None:
        from synthgen.stress import corruptions

        corruptions.all_corruptions()  # imports the modules that register them
        registry = corruptions.REGISTRY
    return [Plugin("corruption", f"{m}/{n}", c.target, modalities=(m,), obj=c) for (m, n), c in registry.items()]


def discover(conf: str | Path | None = None, formats: dict | None = None, corruptions: dict | None = None) -> list[Plugin]:
    """Every plugin: generators and validation nodes under ``conf`` (default: the packaged
    ``synthgen.conf``), formats and corruptions from their registries."""
    root = Path(conf) if conf is not None else conf_root()
    return (discover_generators(root) + discover_validation(root) + discover_formats(formats)
            + discover_corruptions(corruptions))


# ==================================================================================================
# result checks shared by every validator
# ==================================================================================================

def _walk_floats(obj: Any, where: str = "result"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_floats(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk_floats(v, f"{where}[{i}]")
    elif isinstance(obj, (float, np.floating)):
        yield where, float(obj)


def check_result(res, labels: Sequence[str] | None = None, sizes: dict[str, tuple[int, int]] | None = None) -> None:
    """A typed :class:`ValidationResult`: per class a status, a score in [0, 1] (None only when
    incomputable, with a reason), score >= 0.5 iff passed, finite numbers, never NaN, valid JSON;
    with ``sizes`` ({label: (real, synthetic)}), ``n_real``/``n_synthetic`` count the samples given
    (a validator that subsamples says so in ``details``, not in the counts)."""
    from synthgen.validators.result import INCOMPUTABLE, ClassResult, ValidationResult

    assert isinstance(res, ValidationResult), f"validate must return a ValidationResult, got {type(res).__name__}"
    assert isinstance(res.validator, str) and res.validator and isinstance(res.statistic_name, str)
    if labels is not None:
        assert set(res.per_class) == set(labels), f"one result per synthetic class: {sorted(res.per_class)} != {sorted(labels)}"
    for label, r in res.per_class.items():
        assert isinstance(r, ClassResult) and r.label == label, f"per_class[{label!r}] must be its ClassResult"
        assert r.status in ("pass", "fail", INCOMPUTABLE), f"class {label!r}: unknown status {r.status!r}"
        assert isinstance(r.passed, bool), f"class {label!r}: passed must be a bool, got {type(r.passed).__name__}"
        assert isinstance(r.n_real, int) and isinstance(r.n_synthetic, int)
        if sizes is not None and label in sizes:
            assert (r.n_real, r.n_synthetic) == tuple(sizes[label]), \
                f"class {label!r}: n_real, n_synthetic = {(r.n_real, r.n_synthetic)}, but {tuple(sizes[label])} were given"
        if r.status == INCOMPUTABLE:
            assert isinstance(r.reason, str) and r.reason.strip(), f"class {label!r}: incomputable without a reason"
            assert r.score is None and not r.passed, f"class {label!r}: an incomputable class has no score and does not pass"
            continue
        assert r.passed == (r.status == "pass"), f"class {label!r}: status {r.status} but passed={r.passed}"
        assert isinstance(r.score, (float, int)) and 0.0 <= r.score <= 1.0, f"class {label!r}: score {r.score!r} not in [0, 1]"
        assert (r.score >= 0.5) == r.passed, f"class {label!r}: score {r.score} but passed={r.passed} (score >= 0.5 iff passed)"
        for k in ("statistic", "threshold"):
            v = getattr(r, k)
            assert v is None or (isinstance(v, (float, int)) and math.isfinite(v)), f"class {label!r}: {k}={v!r} is not finite"
        if r.p_value is not None:
            assert 0.0 < r.p_value <= 1.0, f"class {label!r}: p_value {r.p_value} not in (0, 1]"
    d = res.to_dict()
    nan = [w for w, v in _walk_floats(d) if math.isnan(v)]
    assert not nan, f"NaN in the result: {nan[:5]} (too little data is 'incomputable' with a reason, never NaN)"
    json.loads(dumps(d))


# ==================================================================================================
# generators
# ==================================================================================================

@dataclass
class GeneratorCase:
    """A generator factory (each call a fresh, unfitted instance), the real data it fits on, the
    classes to generate, and ``name``: its config name (``image_augment``), when it has one."""

    make: Callable[[], Any]
    real: Any
    labels: Sequence[str]
    n: int = 4
    seed: int = 7
    name: str | None = None
    _fitted: Any = field(default=None, repr=False)
    _first: dict = field(default_factory=dict, repr=False)

    def fitted(self):
        if self._fitted is None:
            g = self.make()
            out = g.fit(self.real)
            assert out is g, "fit must return self"
            self._fitted = g
        return self._fitted

    def first(self, label: str) -> list[Sample]:
        if label not in self._first:
            self._first[label] = list(self.fitted().generate(label, self.n, self.seed))
        return self._first[label]


def _data_matches(modality: str, d: Any) -> str | None:
    if modality == "image":
        ok = isinstance(d, np.ndarray) and d.dtype == np.uint8 and d.ndim == 3 and d.shape[2] in (1, 3, 4) and d.size
        return None if ok else f"an image is an HxWxC uint8 array, got {type(d).__name__} {getattr(d, 'dtype', '')}{getattr(d, 'shape', '')}"
    if modality == "text":
        return None if isinstance(d, str) else f"a text sample's data is a str, got {type(d).__name__}"
    if modality == "points":
        ok = isinstance(d, np.ndarray) and d.dtype == np.float32 and d.ndim == 2 and d.shape[1] == 3 and np.isfinite(d).all()
        return None if ok else f"points are a finite (N, 3) float32 array, got {type(d).__name__} {getattr(d, 'dtype', '')}{getattr(d, 'shape', '')}"
    return f"unknown modality {modality!r}"


def check_generator_modality(case: GeneratorCase) -> None:
    """Implements the Generator protocol; ``modality`` is one of image/text/points, matches the config
    name's prefix, the real data's and every sample's; the data has that modality's type."""
    g = case.make()
    assert isinstance(g, Generator), f"{type(g).__name__} must implement synthgen.protocols.Generator (modality, version, fit, generate)"
    assert g.modality in MODALITIES, f"modality must be one of {MODALITIES}, got {g.modality!r}"
    assert isinstance(g.version, str) and g.version, "version must be a non-empty string"
    if case.name:
        prefix = case.name.split("_", 1)[0]
        assert prefix == g.modality, f"config generator/{case.name}.yaml must start with its modality ({g.modality}_...)"
    real_mod = getattr(case.real, "modality", None)
    if real_mod is not None:
        assert real_mod == g.modality, f"fitted on {real_mod} data but makes {g.modality}"
    for label in case.labels:
        for s in case.first(label):
            assert isinstance(s, Sample), f"generate must yield Sample, got {type(s).__name__}"
            assert s.modality == g.modality, f"sample {s.id}: modality {s.modality!r} != generator's {g.modality!r}"
            assert s.label == label, f"sample {s.id}: label {s.label!r}, asked for {label!r}"
            why = _data_matches(g.modality, s.data)
            assert why is None, f"sample {s.id}: {why}"
            assert isinstance(s.annotations, dict), f"sample {s.id}: annotations must be a dict"


def _init_params(cls) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [n for n, p in sig.parameters.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def check_params_only(case: GeneratorCase) -> None:
    """scikit-learn's rule: the constructor only stores its parameters.  Every argument is readable
    back, ``get_params`` round-trips (a rebuilt generator has the same parameters and config digest),
    and nothing public but the parameters is set before ``fit``."""
    from synthgen.config import plain

    g = case.make()
    names = _init_params(type(g))
    for name in names:
        assert hasattr(g, name), f"{type(g).__name__} must store constructor argument '{name}' as an attribute"
    assert hasattr(g, "get_params"), f"{type(g).__name__} needs get_params() (subclass synthgen.generators.base.BaseGenerator)"
    params = g.get_params()
    assert set(params) == set(names), f"get_params() keys {sorted(params)} != constructor arguments {sorted(names)}"
    json.loads(dumps(params))  # plain data: it goes into the config digest and provenance
    again = type(g)(**params)
    assert dumps(plain(again.get_params())) == dumps(plain(params)), "get_params() of a generator rebuilt from get_params() differs"
    assert again.config_digest == g.config_digest, "a generator rebuilt from get_params() has another config digest"
    extra = sorted(k for k in vars(g) if not k.startswith("_") and k not in names)
    assert not extra, (f"{type(g).__name__}.__init__ sets {extra}, which are not constructor arguments "
                       "(store parameters only; derive the rest in fit or on first use, as private or trailing-underscore attributes)")


def check_provenance(case: GeneratorCase) -> None:
    """Every synthetic sample says where it came from: generator (importable), version, config digest,
    seed, label, index, parents, sampled parameters, library versions; its manifest line is JSON."""
    from hydra.utils import get_class

    g = case.fitted()
    for label in case.labels:
        out = case.first(label)
        assert len(out) == case.n, f"asked for {case.n} samples of {label!r}, got {len(out)}"
        for i, s in enumerate(out):
            p = s.provenance
            assert p is not None, f"sample {s.id}: synthetic samples carry provenance"
            assert p.seed == case.seed and p.index == i and p.label == label, f"sample {s.id}: seed/index/label {p.seed}/{p.index}/{p.label!r}"
            assert p.generator and "." in p.generator and p.generator_version == g.version
            assert get_class(p.generator) is type(g), f"provenance.generator {p.generator!r} must import as {type(g).__name__}"
            assert len(p.config_digest) == 64 and p.config_digest == g.config_digest
            assert isinstance(p.parents, tuple) and all(isinstance(x, str) for x in p.parents)
            assert isinstance(p.params, dict)
            assert p.libraries and all(isinstance(v, str) for v in p.libraries.values())
            json.loads(dumps(record(s, "x", "0" * 64)))  # manifest line is valid JSON


def check_ids(case: GeneratorCase) -> None:
    """Sample ids are unique (within and across classes and seeds) and name the seed (``s<seed>``)."""
    g = case.fitted()
    seen: dict[str, str] = {}
    for label in case.labels:
        for s in case.first(label):
            assert isinstance(s.id, str) and s.id, "sample ids are non-empty strings"
            assert s.id not in seen, f"sample id {s.id} is used twice ({seen.get(s.id)!r} and {label!r})"
            seen[s.id] = label
            assert f"s{case.seed}" in s.id.replace("_", "-").split("-"), f"sample id {s.id} must contain the seed as 's{case.seed}'"
    other = [s.id for s in g.generate(case.labels[0], case.n, case.seed + 1)]
    assert not set(other) & set(seen), "ids of another seed must differ (merging two runs would collide)"


def check_determinism(case: GeneratorCase) -> None:
    """A fresh instance with the same seed gives byte-identical samples and provenance; another seed
    gives other samples."""
    g2 = case.make().fit(case.real)
    for label in case.labels:
        first = case.first(label)
        again = list(g2.generate(label, case.n, case.seed))
        assert [data_bytes(a) for a in first] == [data_bytes(b) for b in again], f"{label!r}: same seed must give identical samples"
        assert [a.provenance.to_dict() for a in first] == [b.provenance.to_dict() for b in again], f"{label!r}: provenance differs between runs"
        assert [a.id for a in first] == [b.id for b in again]
        other = list(g2.generate(label, case.n, case.seed + 1))
        assert [data_bytes(a) for a in first] != [data_bytes(b) for b in other], f"{label!r}: the seed must matter"


def check_shard_independence(case: GeneratorCase) -> None:
    """Sample i depends only on (seed, label, i): any split of the indices into shards, in any order,
    reproduces exactly those samples."""
    g = case.fitted()
    n = case.n
    for label in case.labels:
        first = case.first(label)
        for shards in (2, 3):
            parts = []
            for k in range(shards):
                idx = range(n * k // shards, n * (k + 1) // shards)
                parts.extend(g.generate(label, n, case.seed, indices=idx))
            assert [data_bytes(a) for a in first] == [data_bytes(b) for b in parts], f"{label!r}: {shards} shards differ from one run"
        odd = list(g.generate(label, n, case.seed, indices=[n - 1, 0]))
        assert data_bytes(odd[0]) == data_bytes(first[-1]) and data_bytes(odd[1]) == data_bytes(first[0]), \
            f"{label!r}: indices [{n - 1}, 0] must give samples {n - 1} and 0"


def check_generator_errors(case: GeneratorCase) -> None:
    """Bad requests are named errors: a negative count or an index out of range is a ConfigError; a
    class the generator cannot make (unknown, or no real data to learn from) gives samples or a
    :class:`~synthgen.errors.SynthgenError` (one line, naming the class or dataset), never another
    exception."""
    from synthgen.errors import SynthgenError

    g = case.fitted()
    n = case.n
    _raises(ConfigError, lambda: list(g.generate(case.labels[0], -1, case.seed)), "a negative count")
    _raises(ConfigError, lambda: list(g.generate(case.labels[0], n, case.seed, indices=[n])), f"index {n} of {n} samples")
    assert list(g.generate(case.labels[0], 0, case.seed)) == [], "n=0 yields nothing"
    empty = case.real.subset([]) if hasattr(case.real, "subset") else case.real
    for what, fn in (("an unknown class", lambda: list(g.generate("no-such-class", 2, case.seed))),
                     ("an empty real dataset", lambda: list(case.make().fit(empty).generate(case.labels[0], 2, case.seed)))):
        try:
            out = fn()
        except SynthgenError as e:
            assert str(e).strip() and "\n" not in str(e), f"{what}: the error must be one line: {str(e)!r}"
        except Exception as e:
            raise AssertionError(f"{what}: expected samples or a SynthgenError (ConfigError, InsufficientDataError, "
                                 f"DatasetError), got {type(e).__name__}: {e}") from e
        else:
            assert all(isinstance(s, Sample) for s in out)


def check_evidence_kind(case: GeneratorCase) -> None:
    """``evidence_kind`` is "fitted" or "per_parent".  A per_parent generator (its cross-fitted batches
    are drawn from what it generated: :func:`synthgen.crossfit.evidence_batches`) names, for every
    sample, parents among the real samples it was fitted on, and fitted without one of them never
    names it again."""
    g = case.fitted()
    kind = getattr(g, "evidence_kind", "fitted")
    assert kind in ("fitted", "per_parent"), f"evidence_kind must be 'fitted' or 'per_parent', got {kind!r}"
    if kind != "per_parent":
        return
    real_ids = {s.id for s in case.real.samples}
    for label in case.labels:
        first = case.first(label)
        for s in first:
            assert s.provenance.parents and set(s.provenance.parents) <= real_ids, \
                f"{label!r}: sample {s.id} of a per_parent generator must name its real parents, got {s.provenance.parents}"
        drop = first[0].provenance.parents[0]
        rest = case.real.subset([r for r in case.real.samples if r.id != drop])
        again = list(case.make().fit(rest).generate(label, case.n, case.seed))
        assert again and all(drop not in s.provenance.parents for s in again), \
            f"{label!r}: fitted without {drop}, a per_parent generator still names it as a parent"


GENERATOR_CHECKS = (check_generator_modality, check_params_only, check_provenance, check_ids, check_determinism,
                    check_shard_independence, check_generator_errors, check_evidence_kind)


def check_generator(make: Callable[[], object], real, labels: Sequence[str], n: int = 6, seed: int = 7,
                    name: str | None = None) -> None:
    """Every generator check in one call (protocol, stored parameters, provenance, ids, byte-identical
    reruns, shard invariance, errors)."""
    case = GeneratorCase(make, real, list(labels), n, seed, name)
    for check in GENERATOR_CHECKS:
        check(case)


# ==================================================================================================
# validators on feature matrices
# ==================================================================================================

def anchor_data(dim: int = 4, n: int = 120, seed: int = 0):
    """Real classes a ~ N(0, I) and b ~ N(3, I), c with 3 samples; synthetic a: fresh draws from a's
    distribution (must pass), b: draws that look like class a, 3 away from real b (must fail),
    c: too little real data (incomputable)."""
    rng = np.random.default_rng(seed)
    names = [f"f{j}" for j in range(dim)]
    real = {"a": rng.normal(size=(n, dim)), "b": rng.normal(size=(n, dim)) + 3.0, "c": rng.normal(size=(3, dim))}
    synthetic = {"a": rng.normal(size=(n, dim)), "b": rng.normal(size=(n, dim)), "c": rng.normal(size=(n, dim))}
    return real, synthetic, names


def _sizes(real: dict, synthetic: dict) -> dict[str, tuple[int, int]]:
    return {c: (len(real.get(c, ())), len(y)) for c, y in synthetic.items()}


def check_validator_protocol(v, kind: str = "features") -> None:
    """The one protocol (synthgen.protocols.Validator): name, statistic_name, reads, and the method ``reads`` names."""
    from synthgen.protocols import reads

    assert isinstance(v, Validator), f"{type(v).__name__} must implement synthgen.protocols.Validator (name, statistic_name, reads)"
    assert isinstance(v.name, str) and v.name and isinstance(v.statistic_name, str) and v.statistic_name
    assert reads(v) == kind, f"{type(v).__name__}.reads is {v.reads!r}, this contract is for {kind!r}"


def check_result_typing(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """Protocol and typed results on the anchor data (see :func:`check_result`)."""
    v = make()
    check_validator_protocol(v)
    real, syn, names = anchor_data(dim, seed=seed)
    res = v.validate(real, syn, names, seed=seed)
    check_result(res, list(syn), _sizes(real, syn))
    assert res.validator == v.name, f"result names validator {res.validator!r}, the validator is {v.name!r}"


def check_anchor(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """SDMetrics' anchors: data from the real class's distribution passes, shifted data fails, a class
    with too little real data is incomputable."""
    real, syn, names = anchor_data(dim, seed=seed)
    res = make().validate(real, syn, names, seed=seed)
    a, b, c = res.per_class["a"], res.per_class["b"], res.per_class["c"]
    assert a.status == "pass" and a.passed, f"same distribution must pass: {a}"
    assert b.status == "fail" and not b.passed, f"shifted data must fail: {b}"
    assert c.status == "incomputable" and c.reason and c.score is None, f"3 real samples must be incomputable: {c}"


def check_too_little_data(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """Too little data is ``incomputable`` with a reason: never NaN, never an exception."""
    rng = np.random.default_rng(seed)
    names = [f"f{j}" for j in range(dim)]
    cases = [
        ({"few": rng.normal(size=(3, dim))}, {"few": rng.normal(size=(2, dim))}),
        ({"none": rng.normal(size=(60, dim)), "other": rng.normal(size=(60, dim)) + 3}, {"none": np.zeros((0, dim))}),
        ({"other": rng.normal(size=(60, dim))}, {"no_real": rng.normal(size=(30, dim))}),
    ]
    for real, syn in cases:
        sizes = {c: (len(real.get(c, ())), len(y)) for c, y in syn.items()}
        res = _no_raise(lambda real=real, syn=syn: make().validate(real, syn, names, seed=seed),
                        f"(real, synthetic) sizes {sizes}: too little data must be 'incomputable' with a reason, not an exception")
        check_result(res, list(syn), _sizes(real, syn))
        for label, r in res.per_class.items():
            assert r.status == "incomputable", f"class {label!r} ({len(real.get(label, []))} real, {len(syn[label])} synthetic) must be incomputable: {r}"


def check_validator_determinism(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """Same inputs and seed -> the same result, from the same instance and from a fresh one."""
    real, syn, names = anchor_data(dim, seed=seed)
    v = make()
    first = dumps(v.validate(real, syn, names, seed=seed).to_dict())
    assert dumps(v.validate(real, syn, names, seed=seed).to_dict()) == first, "validators must be deterministic for a seed"
    assert dumps(make().validate(real, syn, names, seed=seed).to_dict()) == first, "a fresh instance must give the same result"


FEATURE_VALIDATOR_CHECKS = (check_result_typing, check_anchor, check_too_little_data, check_validator_determinism)


def check_validator(v, dim: int = 4, n: int = 120, seed: int = 0) -> None:
    """Every feature-validator check on one instance: typed results in [0, 1], identical data passes,
    shifted data fails, too little data is incomputable, deterministic."""
    for check in FEATURE_VALIDATOR_CHECKS:
        check(lambda: v, dim=dim, seed=seed)


# ==================================================================================================
# cross-fitted validators (reads = "folds")
# ==================================================================================================

def fold_data(dim: int = 4, seed: int = 0, k: int = 3):
    """Cross-fitting folds (:func:`make_folds` + :meth:`Fold.from_indices`) over three real classes
    (a ~ N(0), b ~ N(1.2): overlapping, so a probe misses some of each and a gain is possible; c with one
    sample), each fold with synthetic a, b and c made "from" its train part."""
    from synthgen.validators.crossfit import Fold, make_folds

    rng = np.random.default_rng(seed)
    real = {"a": rng.normal(size=(30, dim)), "b": rng.normal(size=(30, dim)) + 1.2, "c": rng.normal(size=(1, dim)) - 3.0}
    folds = []
    for r, f, tr, te in make_folds(real, k=k, repeats=1, seed=seed):
        frng = np.random.default_rng([seed, r, f])
        syn = {"a": frng.normal(size=(12, dim)), "b": frng.normal(size=(12, dim)) + 1.2, "c": frng.normal(size=(6, dim)) - 3.0}
        folds.append(Fold.from_indices(real, r, f, tr, te, syn))
    return real, folds, [f"f{j}" for j in range(dim)]


def check_folds_typing(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """Typed results through folds; classes with enough data are computed, a one-sample class is
    incomputable; plain ``validate`` (no folds) is typed and incomputable, never circular."""
    v = make()
    check_validator_protocol(v, "folds")
    real, folds, names = fold_data(dim, seed)
    res = v.validate_folds(folds, seed=seed)
    check_result(res, ["a", "b", "c"])
    assert res.validator == v.name
    for c in ("a", "b"):
        assert res.per_class[c].status != "incomputable", f"class {c!r} has 30 real samples in 3 folds: {res.per_class[c]}"
    assert res.per_class["c"].status == "incomputable", f"one real sample cannot be cross-fitted: {res.per_class['c']}"
    plain = v.validate({c: x for c, x in real.items()}, {"a": real["a"]}, names, seed=seed)
    check_result(plain, ["a"])
    assert plain.per_class["a"].status == "incomputable", "without folds there is no honest reference"


def check_folds_too_little_data(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    """No folds, or folds without synthetic samples of a class: incomputable with a reason."""
    from synthgen.validators.crossfit import Fold, make_folds

    res = _no_raise(lambda: make().validate_folds([], seed=seed, labels=["a"]), "no folds must be 'incomputable', not an exception")
    check_result(res, ["a"])
    assert res.per_class["a"].status == "incomputable"
    rng = np.random.default_rng(seed)
    real = {"a": rng.normal(size=(4, dim)), "b": rng.normal(size=(4, dim)) + 3}
    folds = [Fold.from_indices(real, r, f, tr, te, {"a": np.zeros((0, dim))}) for r, f, tr, te in make_folds(real, 2, 1, seed)]
    res = _no_raise(lambda: make().validate_folds(folds, seed=seed, labels=["a"]), "no synthetic samples must be 'incomputable'")
    check_result(res, ["a"])
    assert res.per_class["a"].status == "incomputable", f"no synthetic samples: {res.per_class['a']}"


def check_folds_determinism(make: Callable[[], Any], dim: int = 4, seed: int = 0) -> None:
    _, folds, _ = fold_data(dim, seed)
    first = dumps(make().validate_folds(folds, seed=seed).to_dict())
    assert dumps(make().validate_folds(folds, seed=seed).to_dict()) == first, "validate_folds must be deterministic for a seed"


FOLD_VALIDATOR_CHECKS = (check_folds_typing, check_folds_too_little_data, check_folds_determinism)


# ==================================================================================================
# validators on samples (reads = "samples")
# ==================================================================================================

@dataclass
class SampleValidatorCase:
    """A validator factory and small real data of one modality, split per class into a "real" and a
    "synthetic" half (distinct real samples)."""

    make: Callable[[], Any]
    real: dict[str, list[Sample]]
    synthetic: dict[str, list[Sample]]
    modality: str


def check_samples_typing(case: SampleValidatorCase) -> None:
    v = case.make()
    check_validator_protocol(v, "samples")
    res = v.validate_samples(case.real, case.synthetic, seed=0)
    check_result(res, list(case.synthetic), _sizes(case.real, case.synthetic))
    assert res.validator == v.name
    assert res.computable, f"{case.modality}: no class computable on {sum(map(len, case.real.values()))} real samples: {res.to_dict()}"
    if hasattr(v, "validate"):  # the feature-matrix entry point, where it has one, answers too: typed, never raising
        x = np.zeros((12, 3))
        plain = _no_raise(lambda: v.validate({"a": x}, {"a": x}, ["f0", "f1", "f2"], seed=0),
                          f"{type(v).__name__}.validate on feature matrices (a samples validator: incomputable with a reason)")
        check_result(plain, ["a"])


def check_samples_too_little_data(case: SampleValidatorCase) -> None:
    """No synthetic samples: incomputable with a reason; one sample on either side: typed, no exception."""
    label = next(iter(case.real))
    res = _no_raise(lambda: case.make().validate_samples(case.real, {label: []}, seed=0), "no synthetic samples must be 'incomputable'")
    check_result(res, [label])
    assert res.per_class[label].status == "incomputable", f"no synthetic samples: {res.per_class[label]}"
    one = {label: case.real[label][:1]}
    for real, syn in ((one, {label: case.synthetic[label][:1]}), ({}, {label: case.synthetic[label][:2]})):
        sizes = (len(real.get(label, ())), len(syn[label]))
        check_result(_no_raise(lambda real=real, syn=syn: case.make().validate_samples(real, syn, seed=0), f"(real, synthetic) sizes {sizes}"), [label])


def check_samples_determinism(case: SampleValidatorCase) -> None:
    first = dumps(case.make().validate_samples(case.real, case.synthetic, seed=0).to_dict())
    again = dumps(case.make().validate_samples(case.real, case.synthetic, seed=0).to_dict())
    assert first == again, "validate_samples must be deterministic for a seed"


SAMPLE_VALIDATOR_CHECKS = (check_samples_typing, check_samples_too_little_data, check_samples_determinism)


# ==================================================================================================
# featurizers
# ==================================================================================================

@dataclass
class FeaturizerCase:
    make: Callable[[], Any]
    samples: list[Sample]


def check_featurizer_modality(case: FeaturizerCase) -> None:
    f = case.make()
    assert isinstance(f, Featurizer), f"{type(f).__name__} must implement synthgen.protocols.Featurizer (modality, feature_names, transform)"
    assert f.modality in MODALITIES, f"modality must be one of {MODALITIES}, got {f.modality!r}"
    names = list(f.feature_names)
    assert names and all(isinstance(n, str) and n for n in names), "feature_names: a non-empty list of strings"
    assert len(set(names)) == len(names), "feature_names must be unique"
    assert {s.modality for s in case.samples} == {f.modality}


def check_featurizer_output(case: FeaturizerCase) -> None:
    f = case.make()
    x = f.transform(case.samples)
    d = len(f.feature_names)
    assert isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating), f"transform must return a float array, got {type(x).__name__} {getattr(x, 'dtype', '')}"
    assert x.shape == (len(case.samples), d), f"shape {x.shape}, expected (n samples, len(feature_names)) = {(len(case.samples), d)}"
    assert np.isfinite(x).all(), f"non-finite features in columns {sorted({f.feature_names[j] for j in np.nonzero(~np.isfinite(x))[1]})[:5]}"


def check_featurizer_empty(case: FeaturizerCase) -> None:
    f = case.make()
    x = f.transform([])
    assert isinstance(x, np.ndarray) and x.shape == (0, len(f.feature_names)), f"no samples -> shape (0, d), got {getattr(x, 'shape', x)}"


def check_featurizer_determinism(case: FeaturizerCase) -> None:
    f = case.make()
    a = f.transform(case.samples)
    assert np.array_equal(a, f.transform(case.samples)), "the same samples twice must give the same features"
    assert np.array_equal(a, case.make().transform(case.samples)), "a fresh instance must give the same features"
    # a sample's features do not depend on the others in the batch (no per-batch statistics); up to
    # float32 rounding, which padding a batch of texts to one length changes (~1e-7 in MiniLM)
    k = max(1, len(case.samples) // 2)
    rest = f.transform(case.samples[k:])
    assert np.allclose(a[k:], rest, rtol=1e-5, atol=1e-6), \
        f"a sample's features must not depend on the others in the batch (max difference {np.abs(a[k:] - rest).max():.3g})"


FEATURIZER_CHECKS = (check_featurizer_modality, check_featurizer_output, check_featurizer_empty, check_featurizer_determinism)


def check_featurizer(make: Callable[[], Any], samples: Sequence[Sample]) -> None:
    """Every featurizer check: float matrix (n, len(feature_names)), finite, deterministic,
    empty input -> (0, d), a modality."""
    case = FeaturizerCase(make, list(samples))
    for check in FEATURIZER_CHECKS:
        check(case)


# ==================================================================================================
# formats
# ==================================================================================================

@dataclass
class FormatCase:
    """A :class:`~synthgen.io.formats.Format`, samples of its modality and a scratch folder."""

    fmt: Any
    samples: list[Sample]
    tmp: Path

    @property
    def classes(self) -> list[str]:
        return sorted({s.label for s in self.samples})


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _content_sha(data: Any) -> str:
    if isinstance(data, str):
        return hashlib.sha256(data.encode("utf-8")).hexdigest()
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


def _same_data(a: Any, b: Any) -> str | None:
    if isinstance(a, str):
        return None if a == b else "text differs"
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"shape {a.shape} -> {b.shape}"
    if a.dtype.kind in "ui":
        return None if np.array_equal(a, b) else "pixels differ"
    tol = 1e-6 * max(1.0, float(np.abs(a).max()) if a.size else 1.0)  # float32 storage
    return None if np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=0, atol=tol) else "values differ beyond float32 rounding"


def _no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp-" in p.name]
    assert not left, f"temporary folders left behind: {left}"


def check_format_round_trip(case: FormatCase) -> None:
    """Write then read: the same ids, labels and data; ``manifest.jsonl`` lists every sample with the
    sha256 of its file (or, for a file shared by samples, of the sample's content); the written folder
    is detected as this format; nothing temporary is left behind."""
    from synthgen.io import formats
    from synthgen.io.common import sha256_file
    from synthgen.io.manifest import read_manifest

    out = Path(case.fmt.write(case.samples, case.classes, str(case.tmp / "round_trip")))
    assert (out / "manifest.jsonl").is_file(), f"{case.fmt.name}: no manifest.jsonl in {out}"
    recs = read_manifest(out / "manifest.jsonl")
    assert [r["id"] for r in recs] == [s.id for s in case.samples], "the manifest lists every written sample, in order"
    files = [r["file"].split("#")[0] for r in recs]
    back = case.fmt.read(str(out))
    by_id = {s.id: s for s in back.samples}
    assert sorted(by_id) == sorted(s.id for s in case.samples), f"ids read back {sorted(by_id)[:4]}... != written"
    for r, f, s in zip(recs, files, case.samples):
        assert (out / f).is_file(), f"manifest names {f}, which is not in {out}"
        want = sha256_file(out / f) if files.count(f) == 1 else _content_sha(by_id[s.id].data)
        assert r["sha256"] == want, f"{s.id}: manifest sha256 does not match {f}"
        b = by_id[s.id]
        assert b.label == s.label, f"{s.id}: label {s.label!r} read back as {b.label!r}"
        why = _same_data(s.data, b.data)
        assert why is None, f"{s.id}: {why}"
    assert formats.detect(out).name == case.fmt.name, f"{out} is detected as {formats.detect(out).name!r}"
    _no_leftovers(case.tmp)


def _bad_read(case: FormatCase, path: Path, what: str, names: str) -> None:
    def read_all():
        for s in case.fmt.read(str(path)).samples:  # readers may load lazily
            np.asarray(s.data)

    msg = str(_raises(DatasetError, read_all, what))
    assert "\n" not in msg and msg.strip(), f"{what}: the message must be one line: {msg!r}"
    assert names in msg, f"{what}: the message must name {names}: {msg!r}"


def check_format_bad_input(case: FormatCase) -> None:
    """Bad input is a DatasetError with a one-line message naming what is at fault: a truncated data
    file, a garbled manifest line, a folder that does not exist."""
    import shutil

    from synthgen.io.manifest import read_manifest

    out = Path(case.fmt.write(case.samples, case.classes, str(case.tmp / "corrupt")))
    garbled = case.tmp / "garbled"
    shutil.copytree(out, garbled)
    with open(garbled / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "x", "file":\n')
    _bad_read(case, garbled, "a garbled manifest line", "manifest.jsonl")
    _bad_read(case, case.tmp / "no-such-folder", "a folder that does not exist", "no-such-folder")
    victim = out / read_manifest(out / "manifest.jsonl")[0]["file"].split("#")[0]
    raw = victim.read_bytes()
    victim.write_bytes(raw[: len(raw) // 2])
    _bad_read(case, out, f"reading {out.name} with {victim.name} truncated", victim.name)


def check_format_refuses_overwrite(case: FormatCase) -> None:
    """Writing twice to the same folder is refused and leaves the first copy untouched."""
    out = Path(case.fmt.write(case.samples, case.classes, str(case.tmp / "twice")))
    before = _tree(out)
    _raises(DatasetError, lambda: case.fmt.write(case.samples[:1], case.classes, str(out)), f"writing twice to {out.name}")
    assert _tree(out) == before, "a refused write must not touch the existing folder"
    _no_leftovers(case.tmp)


FORMAT_CHECKS = (check_format_round_trip, check_format_bad_input, check_format_refuses_overwrite)


def check_format(fmt, samples: Sequence[Sample], tmp: Path) -> None:
    case = FormatCase(fmt, list(samples), Path(tmp))
    for check in FORMAT_CHECKS:
        check(case)


# ==================================================================================================
# corruptions
# ==================================================================================================

@dataclass
class CorruptionCase:
    """A registered corruption and a tiny annotated input of its modality."""

    corruption: Any
    data: Any
    annotations: dict


def _snapshot(data, ann) -> str:
    return hashlib.sha256(data_bytes(Sample("x", data, "x", ann))).hexdigest()


def _check_image_out(c, data, ann, out, new) -> None:
    assert isinstance(out, np.ndarray) and out.shape == data.shape and out.dtype == np.uint8, f"image {data.shape} uint8 -> {getattr(out, 'shape', out)} {getattr(out, 'dtype', '')}"
    h, w = out.shape[:2]
    cats = [o.get("category") for o in ann.get("objects", [])]
    got = [o.get("category") for o in new.get("objects", [])]
    assert all(g in cats for g in got) and len(got) <= len(cats), f"object labels {cats} -> {got}"
    if not c.geometric:
        assert got == cats, "a non-geometric corruption keeps every object"
        assert [o["bbox"] for o in new["objects"]] == [o["bbox"] for o in ann["objects"]], "a non-geometric corruption keeps boxes"
    for o in new.get("objects", []):
        x, y, bw, bh = o["bbox"]
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6, f"box {o['bbox']} outside {w}x{h}"
        if o.get("mask") is not None:
            assert np.asarray(o["mask"]).shape == (h, w)
        for kx, ky, v in o.get("keypoints", []):
            assert v == 0 or (0 <= kx < w and 0 <= ky < h), f"visible keypoint ({kx}, {ky}) outside the image"


def _check_text_out(c, data, ann, out, new) -> None:
    assert isinstance(out, str), f"text -> {type(out).__name__}"
    assert [s["label"] for s in new.get("spans", [])] == [s["label"] for s in ann.get("spans", [])], "every entity span keeps its label"
    prev = -1
    for s in new.get("spans", []):
        assert 0 <= s["start"] < s["end"] <= len(out), f"span {s} outside the text"
        assert out[s["start"]:s["end"]] == s["text"], f"span {s} does not match the text"
        assert s["start"] >= prev, "spans stay ordered and do not overlap"
        prev = s["end"]


def _check_points_out(c, data, ann, out, new) -> None:
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 3, \
        f"points -> {getattr(out, 'dtype', '')}{getattr(out, 'shape', '')}"
    assert np.isfinite(out).all(), "non-finite points"
    for k in ("point_labels", "instance_ids"):
        if k in ann:
            lab = np.asarray(new[k])
            assert lab.shape == (len(out),), f"{k}: {lab.shape} for {len(out)} points"
            assert set(np.unique(lab).tolist()) <= set(np.unique(ann[k]).tolist()) | {-1}, f"{k}: new label values appeared"


_CORRUPTION_OUT = {"image": _check_image_out, "text": _check_text_out, "points": _check_points_out}


def check_corruption_severities(case: CorruptionCase) -> None:
    """At every severity 1..5: the modality's type and shape are kept, labels move with the data and
    are never invented, the sampled parameters are JSON, the input is not modified."""
    c = case.corruption
    assert c.modality in MODALITIES and c.expect in ("invariant", "directional")
    before = _snapshot(case.data, case.annotations)
    for sev in (1, 2, 3, 4, 5):
        out, new, params = c(case.data, case.annotations, sev, np.random.default_rng(sev))
        assert isinstance(params, dict), f"severity {sev}: params must be a dict"
        json.loads(dumps(params))
        try:
            _CORRUPTION_OUT[c.modality](c, case.data, case.annotations, out, new)
        except AssertionError as e:
            raise AssertionError(f"severity {sev}: {e}") from None
        assert _snapshot(case.data, case.annotations) == before, f"severity {sev}: the input was modified in place"
    _raises(ConfigError, lambda: c(case.data, case.annotations, 6, np.random.default_rng(0)), "severity 6")


def check_corruption_determinism(case: CorruptionCase) -> None:
    """The same per-sample generator gives the same output and parameters, at every severity."""
    c = case.corruption
    for sev in (1, 2, 3, 4, 5):
        a = c(case.data, case.annotations, sev, np.random.default_rng(7))
        b = c(case.data, case.annotations, sev, np.random.default_rng(7))
        sa, sb = Sample("x", a[0], "x", a[1]), Sample("x", b[0], "x", b[1])
        assert data_bytes(sa) == data_bytes(sb) and dumps(a[2]) == dumps(b[2]), f"severity {sev}: not deterministic for one rng"


CORRUPTION_CHECKS = (check_corruption_severities, check_corruption_determinism)


def check_corruption(corruption, data, annotations) -> None:
    case = CorruptionCase(corruption, data, annotations)
    for check in CORRUPTION_CHECKS:
        check(case)


# ==================================================================================================
# the contract table
# ==================================================================================================

#: which checks apply to which kind of plugin; a kind not here has no contract (and fails coverage)
CHECKS: dict[str, tuple[Callable, ...]] = {
    "generator": GENERATOR_CHECKS,
    "validator:features": FEATURE_VALIDATOR_CHECKS,
    "validator:folds": FOLD_VALIDATOR_CHECKS,
    "validator:samples": SAMPLE_VALIDATOR_CHECKS,
    "featurizer": FEATURIZER_CHECKS,
    "format": FORMAT_CHECKS,
    "corruption": CORRUPTION_CHECKS,
}


def contract_kind(p: Plugin) -> str | None:
    """The key of :data:`CHECKS` for a plugin, derived from what it is; None when it is none of them
    (an unimportable ``_target_``, or a validator without a valid ``reads``)."""
    if p.kind in ("generator", "featurizer"):
        try:
            p.cls()
        except Exception:  # noqa: BLE001 - unimportable: no contract applies, coverage says why
            return None
        return p.kind
    if p.kind == "validator":
        try:
            cls = p.cls()
        except Exception:  # noqa: BLE001
            return None
        kind = getattr(cls, "reads", None)
        return f"validator:{kind}" if kind in ("features", "samples", "folds") else None
    if p.kind in ("format", "corruption"):
        return p.kind
    return None


def contract_cases(plugins: Sequence[Plugin], excluded: dict[str, str] | None = None) -> list[tuple[Plugin, Callable]]:
    """Every (plugin, check) pair, excluded plugins left out."""
    excluded = excluded or {}
    return [(p, check) for p in plugins if p.id not in excluded for check in CHECKS.get(contract_kind(p) or "", ())]


def case_id(p: Plugin, check: Callable) -> str:
    return f"{p.id}::{check.__name__}"


def coverage_problems(plugins: Sequence[Plugin], excluded: dict[str, str] | None = None,
                      known: Sequence[str] = ()) -> list[str]:
    """Why the contract table does not cover every plugin (empty when it does): a plugin of no known
    kind, an exclusion without a reason, a table entry (``excluded`` or ``known``: per-plugin test
    settings) for a plugin that no longer exists, or two plugins with one id."""
    excluded = excluded or {}
    ids = [p.id for p in plugins]
    out = [f"{i}: discovered twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for p in plugins:
        if p.id in excluded:
            why = excluded[p.id]
            if not (isinstance(why, str) and why.strip()):
                out.append(f"{p.id}: excluded from the contracts without a reason")
            continue
        kind = contract_kind(p)
        if kind is None:
            out.append(f"{p.id}: no contract applies (target {p.target!r} from {', '.join(p.sources) or 'a registry'}: "
                       "unimportable, or not a generator/featurizer/validator/format/corruption)")
        elif not CHECKS.get(kind):
            out.append(f"{p.id}: kind {kind!r} has no checks")
    for key in list(excluded) + list(known):
        if key not in ids:
            out.append(f"{key}: named in the contract settings but no such plugin is discovered")
    return out
