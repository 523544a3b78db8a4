"""Small helpers around Hydra/OmegaConf: plain containers, digests, and instantiate with clear errors."""
from __future__ import annotations

import hashlib
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
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out
