"""Small helpers around Hydra/OmegaConf: plain containers, digests, and instantiate with clear errors."""
from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from .errors import ConfigError


def plain(obj: Any) -> Any:
    """OmegaConf containers -> plain dicts and lists (resolved); anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover
        return obj
    if isinstance(obj, (DictConfig, ListConfig)):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def digest(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (resolved, sorted keys)."""
    from .io.common import dumps

    return hashlib.sha256(dumps(plain(obj)).encode()).hexdigest()


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def build(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose failures become one ConfigError line naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from .errors import SynthgenError

    if node is None:
        raise ConfigError(f"{key}: missing (set {key}=...)")
    target = node.get("_target_") if hasattr(node, "get") else None
    if not target:
        raise ConfigError(f"{key}._target_: missing")
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ or e.__context__
        while isinstance(cause, InstantiationException) and (cause.__cause__ or cause.__context__):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, SynthgenError):
            if isinstance(cause, ConfigError) and re.match(r"[a-z_]+[:.]", str(cause)) and not str(cause).startswith(key.split(".")[0] + "."):
                # a component names its own argument ("model_path: ..."): say where it is configured
                raise ConfigError(f"{key}.{cause}") from None
            raise cause from None
        msg = _first_line(e)
        if "Error locating target" in msg:
            why = ""
            try:
                import importlib

                mod = target.rsplit(".", 1)[0]
                importlib.import_module(mod)
            except Exception as ie:  # report the real import failure, not Hydra's wrapper
                why = f" ({type(ie).__name__}: {_first_line(ie)})"
            raise ConfigError(f"{key}._target_: cannot import '{target}'{why}") from None
        detail = _first_line(cause) if cause is not None else msg
        raise ConfigError(f"{key}: cannot build {target}: {detail}") from None
    except SynthgenError:
        raise
    except Exception as e:  # errors raised by the target's constructor
        raise ConfigError(f"{key}: cannot build {target}: {_first_line(e)}") from None


def library_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{package: installed version}`` (read once per process: every generate() call records them)."""
    return dict(_library_versions(tuple(names)))


@functools.lru_cache(maxsize=None)
def _library_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for n in names:
        try:
            out.append((n, version(n)))
        except PackageNotFoundError:
            out.append((n, "not installed"))
    return tuple(out)


def packaged_targets() -> set[str]:
    """Every ``_target_`` named in synthgen's own config files (``synthgen.conf``)."""
    from importlib.resources import files

    import yaml

    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            t = node.get("_target_")
            if isinstance(t, str):
                found.add(t)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    stack = [files("synthgen.conf")]
    while stack:
        d = stack.pop()
        for entry in d.iterdir():
            if entry.is_dir():
                stack.append(entry)
            elif entry.name.endswith(".yaml"):
                walk(yaml.safe_load(entry.read_text(encoding="utf-8")))
    return found


def load_run_config(path: Any, allow: Any = ()) -> Any:
    """Load a run folder's ``.hydra/config.yaml`` as data, refusing to build code it names.

    A run folder may come from anyone (copied, shared, planted), and ``merge``/``collect`` build the
    dataset reader, generator and validators it names.  Every ``_target_`` in it (the ``hydra``
    section is never read) must be one of synthgen's packaged targets, or start with a prefix the
    user trusts explicitly (``allow_targets=[mypkg.]`` on the command line).
    """
    from pathlib import Path

    from omegaconf import OmegaConf

    from .errors import DatasetError

    path = Path(path)
    try:
        cfg = OmegaConf.load(path)
        raw = OmegaConf.to_container(cfg, resolve=False)
    except Exception as e:
        raise DatasetError(f"{path}: not a readable run config ({_first_line(e)})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: not a run config (a mapping)")
    raw.pop("hydra", None)
    known = packaged_targets()
    prefixes = tuple(str(a) for a in (allow or ()))

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            t = node.get("_target_")
            if t is not None and (not isinstance(t, str) or (t not in known and not t.startswith(prefixes or ("\0",)))):
                raise DatasetError(f"{path}: {key}._target_ {t!r} is not a synthgen target; a run folder is data, so it "
                                   f"is not built (trust it with allow_targets=[{str(t).rsplit('.', 1)[0]}.])")
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")

    walk(raw, "")
    for k in list(cfg.keys()):
        if k == "hydra":
            del cfg[k]
    return cfg
