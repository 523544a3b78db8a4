"""Typed checks of every command's options, run before the job so a bad value never starts work.

Each command's options are listed once in :data:`OPTIONS` as ``(dotted key, check)`` pairs; a ``*``
in a key matches every entry of a mapping (``gate.validators.*.fail_below``).  The numeric
constructor arguments of validators and featurizers under ``validation.*`` are checked by argument
name with :data:`COMPONENT_ARGS`, whatever class they belong to.  A bad value becomes one
:class:`~synthgen.errors.ConfigError` line naming the key, the value and what is expected::

    workers: must be an integer >= 1, got 'two'

Checks that need the data (a ``dataset.longtail.keep`` count larger than its class) happen where
the data is read, in :func:`synthgen.pipeline.load_dataset`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from .errors import ConfigError
from .io.formats import FORMATS


@dataclass(frozen=True)
class Check:
    """A test of one value and the words for what it expects ("an integer >= 1")."""

    expect: str
    test: Callable[[Any], bool]

    def __call__(self, key: str, value: Any) -> None:
        if not self.test(value):
            raise ConfigError(f"{key}: must be {self.expect}, got {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(lo: int | None = None) -> Check:
    return Check("an integer" if lo is None else f"an integer >= {lo}", lambda v: _is_int(v) and (lo is None or v >= lo))


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Check:
    """A finite number within the bounds (closed unless ``*_open``)."""
    def test(v: Any) -> bool:
        return (_is_number(v) and (lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or (v < hi if hi_open else v <= hi)))

    if lo is not None and hi is not None:
        expect = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        expect = f"a number {'>' if lo_open else '>='} {lo:g}"
    else:
        expect = "a number"
    return Check(expect, test)


def optional(check: Check) -> Check:
    return Check(f"{check.expect} or null", lambda v: v is None or check.test(v))


def one_of(*choices: str) -> Check:
    return Check(", ".join(choices[:-1]) + f" or {choices[-1]}", lambda v: isinstance(v, str) and v in choices)


def _is_path(v: Any) -> bool:
    return isinstance(v, str) and v != "" or _is_int(v)


def _is_shard(v: Any) -> bool:
    m = re.fullmatch(r"(\d+)/(\d+)", v) if isinstance(v, str) else None
    return m is not None and int(m[1]) < int(m[2])


def _is_folder_target(v: Any) -> bool:
    p = Path(str(v)).expanduser()
    return _is_path(v) and (p.is_dir() or not p.exists())


def _is_severity_caps(v: Any) -> bool:
    return isinstance(v, dict) and all((_is_int(k) or str(k).isdigit()) and number(0, 1).test(e) for k, e in v.items())


BOOL = Check("true or false", lambda v: isinstance(v, bool))
TEXT = Check("a string", lambda v: isinstance(v, str))
PATH = Check("a path", _is_path)
SEED = integer()
FORMAT = one_of("auto", *FORMATS)
LABEL = Check("a class name", lambda v: isinstance(v, str) or _is_int(v))
FRACTION = optional(number(0, 1))  # a score, an error rate

# --- the options shared by several commands ------------------------------------------------------

POLICY = (
    ("policy.target", Check("max, median, model or an integer >= 1", lambda v: v in ("max", "median", "model") or _is_int(v) and v >= 1)),
    ("policy.fill", optional(Check("max, median or an integer >= 1", lambda v: v in ("max", "median") or _is_int(v) and v >= 1))),
    ("policy.budget", optional(integer(0))),
    ("policy.floor", number(0, 1)),
    ("policy.parent_boost", integer(0)),
    ("policy.low_margin", number(0)),
    ("policy.folds", integer(2)),
    ("policy.model", optional(Check("probe, a pickle path or a mapping with _target_ or path",
                                    lambda v: isinstance(v, (str, dict))))),
    ("policy.eval", optional(Check("a dataset config (a mapping with _target_)", lambda v: isinstance(v, dict)))),
    ("policy.max_synthetic_fraction", number(0, 1, hi_open=True)),
    ("policy.classes", optional(Check("a list of class names", lambda v: isinstance(v, list) and all(map(LABEL.test, v))))),
    ("policy.min_real", integer(0)),
    ("policy.rare_below", optional(number(0))),
)

MERGE = (
    ("merge.into", optional(Check("a folder (not an existing file)", _is_folder_target))),
    ("merge.force", BOOL),
    ("merge.reason", optional(TEXT)),
    ("merge.format", FORMAT),
    ("merge.lock_timeout", number(0)),
)
def _is_kitti_types(v: Any) -> bool:
    from .io.kitti import KITTI_TYPES

    return isinstance(v, dict) and all(t in KITTI_TYPES for t in v.values())


class _CameraCheck(Check):
    """``output.kitti.camera``: the KITTI writer's own parser says what is wrong (which matrix, which key)."""

    def __call__(self, key: str, value: Any) -> None:
        from .io.kitti import camera_from

        camera_from(value, key)


OUTPUT = (
    ("output.format", FORMAT),
    ("output.kitti.types", optional(Check("a mapping {class: Car, Van, Truck, Pedestrian, Person_sitting, Cyclist, Tram, "
                                          "Misc or DontCare}", _is_kitti_types))),
    ("output.kitti.camera", _CameraCheck("null, kitti or a mapping with P2 and image_size", lambda v: True)),
)
ALLOW_TARGETS = (("allow_targets", Check("a list of module prefixes", lambda v: isinstance(v, list) and all(map(TEXT.test, v)))),)

_RULE = (("severity", one_of("fail", "warn", "off")), ("fail_below", FRACTION), ("warn_below", FRACTION),
         ("incomputable", optional(one_of("incomputable", "warn", "fail", "ignore"))))
GATE = (
    *((f"gate.{scope}.{name}", check) for scope in ("default", "validators.*", "classes.*.*") for name, check in _RULE),
    ("gate.incomputable", one_of("incomputable", "warn", "fail", "ignore")),
    ("gate.ci", BOOL),
    ("gate.warn_is_failure", BOOL),
    ("gate.admit_warn", BOOL),
    ("gate.filter.enabled", BOOL),
    ("gate.filter.features", optional(TEXT)),
    ("gate.filter.k", integer(1)),
    ("gate.filter.far_quantile", number(0, 1, lo_open=True)),
    ("gate.filter.far_slack", number(0, lo_open=True)),
    ("gate.filter.min_density", number(0, 1)),
    ("gate.filter.drop_copies", BOOL),
    ("gate.filter.max_drop_share", number(0, 1)),
    ("gate.filter.max_dim", optional(integer(1))),
)

# Constructor arguments of validators and featurizers, by name (an argument a component lacks is
# never in its config, so one table serves every class).
COMPONENT_ARGS: dict[str, Check] = {
    "n_permutations": integer(1),
    "n_bootstrap": integer(1),
    "quantile": number(0, 1, lo_open=True, hi_open=True),
    "close_quantile": number(0, 1, lo_open=True, hi_open=True),
    "alpha": number(0, 1, lo_open=True, hi_open=True),
    "tolerance": number(0),
    "share_tolerance": number(0, 1),
    "margin": number(0),
    "near": optional(number(0)),
    "k": integer(1),
    "folds": integer(2),
    "bins": integer(2),
    "clusters": integer(1),
    "min_per_half": integer(1),
    "min_synthetic": integer(1),
    "min_real": integer(1),
    "min_expected": number(0),
    "max_samples": optional(integer(1)),
    "max_dim": optional(integer(1)),
    "max_clouds": integer(1),
    "n_points": integer(1),
    "max_invalid": number(0, 1),
    "min_real_accuracy": number(0, 1),
    "min_real_share": number(0, 1),
    "C": number(0, lo_open=True),
    "examples": integer(0),
    "batch_size": integer(1),
    "image_size": integer(32),
    "embedding_dims": optional(integer(1)),
    "unigram_buckets": integer(0),
    "seed": SEED,
}
VALIDATION = (
    ("validation.cache_dir", optional(PATH)),
    *((f"validation.{node}.{arg}", check) for node in ("validators.*", "featurizers.*")
      for arg, check in COMPONENT_ARGS.items()),
)

REPORT = (("report.examples", integer(1)),)

# --- every command's options ----------------------------------------------------------------------

OPTIONS: dict[str, tuple[tuple[str, Check], ...]] = {
    "run": (
        ("seed", SEED),
        ("shard", optional(Check("'i/n' such as 0/4 (0 <= i < n)", _is_shard))),
        ("workers", integer(1)),
        ("chunk", integer(1)),
        *POLICY,
        *OUTPUT,
        *REPORT,
        ("objective.class", optional(LABEL)),
        *MERGE, *GATE, *VALIDATION,
    ),
    "plan": POLICY,
    "loop": (
        ("seed", SEED),
        ("rounds", integer(1)),
        ("workers", integer(1)),
        ("chunk", integer(1)),
        ("loop.metric", one_of("rare_recall", "accuracy", "macro_recall")),
        ("loop.min_gain", number()),
        ("loop.test_fraction", number(0, 1, hi_open=True)),
        ("loop.min_test_class", integer(1)),
        ("loop.round_size", optional(integer(1))),
        *POLICY,
        *OUTPUT,
        *REPORT, *MERGE, *GATE, *VALIDATION,
    ),
    "validate": (
        ("seed", SEED),
        ("synthetic.path", optional(PATH)),
        ("synthetic.format", FORMAT),
        *REPORT, *GATE, *VALIDATION,
    ),
    "merge": (("run_dir", optional(PATH)), *ALLOW_TARGETS, *MERGE),
    "collect": (
        ("shards", Check("a list of shard run folders", lambda v: isinstance(v, list) and all(map(_is_path, v)))),
        ("sweep_dir", optional(PATH)),
        ("validate", BOOL),
        *ALLOW_TARGETS, *MERGE,
    ),
    "stress": (
        ("seed", SEED),
        ("base.path", optional(PATH)),
        ("base.format", FORMAT),
        *OUTPUT,
    ),
    "evaluate": (
        ("suite.path", optional(PATH)),
        ("suite.format", FORMAT),
        ("baseline", optional(Check("a baseline name, a file or a mapping", lambda v: isinstance(v, (str, dict))))),
        ("batch_size", integer(1)),
        ("limits.max_mce", optional(number(0))),
        ("limits.max_relative_mce", optional(number())),
        ("limits.max_mean_error", FRACTION),
        ("limits.max_clean_error", FRACTION),
        ("limits.max_error", FRACTION),
        ("limits.max_error_at_severity", optional(Check("a mapping {severity: error in [0, 1]}", _is_severity_caps))),
        ("limits.max_ce", optional(Check("a number >= 0, a mapping {corruption: CE}", lambda v: number(0).test(v) or (
            isinstance(v, dict) and all(map(number(0).test, v.values())))))),
        ("limits.max_failure_rate", FRACTION),
        ("limits.fail_on_leak", BOOL),
        ("training.augmentations", optional(Check("a list of names or a file", lambda v: isinstance(v, list) or _is_path(v)))),
    ),
    "review": (
        ("action", optional(Check("export or import", lambda v: v in ("export", "import")))),
        ("run_dir", optional(PATH)),
        *ALLOW_TARGETS,
        ("review.url", optional(TEXT)),
        ("review.max_tasks", optional(integer(1))),
        ("review.k", integer(1)),
        ("review.images", Check("inline or url", lambda v: v in ("inline", "url"))),
        ("review.from_file", optional(PATH)),
        ("review.timeout", number(0, lo_open=True)),
    ),
    "audit": (
        ("target", optional(Check("a sample id, a version (v0002) or a run folder", lambda v: _is_path(v)))),
        ("into", optional(PATH)),
        ("verify", BOOL),
        ("path", optional(PATH)),
    ),
}


def _values(node: Any, parts: list[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, value)`` for every entry matching the key pattern, values as plain Python objects.

    Absent keys are skipped (the job's default applies), and so are values that are still missing
    (``???``) or resolve only inside a run (``${hydra:runtime.output_dir}`` composed outside one):
    the job reports those itself.
    """
    if not parts:
        yield prefix, node
        return
    if not isinstance(node, Mapping):
        return
    head, rest = parts[0], parts[1:]
    for k in (list(node) if head == "*" else [head] if head in node else []):
        try:
            child = node[k]
            if not rest and isinstance(child, (DictConfig, ListConfig)):
                child = OmegaConf.to_container(child, resolve=True)
        except (InterpolationResolutionError, MissingMandatoryValue):
            continue
        yield from _values(child, rest, f"{prefix}.{k}" if prefix else str(k))


def check_options(command: str, cfg: Any) -> None:
    """Raise :class:`ConfigError` for the first option of ``command`` with a bad type or range."""
    for pattern, check in OPTIONS[command]:
        for key, value in _values(cfg, pattern.split(".")):
            check(key, value)
