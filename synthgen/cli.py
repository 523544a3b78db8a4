"""The ``synthgen`` console script: ``synthgen [command] [hydra overrides and flags]``.

Every command is a Hydra app with its own primary config in ``synthgen.conf`` (``run.yaml``,
``plan.yaml``, ...), so ``--help``, ``--cfg job``, overrides and ``-m`` multirun work for all of them.
``synthgen`` alone runs the default job (``run`` on the bundled digits).

Before handing over to Hydra the overrides are composed once, so an unknown config option or key
becomes one line naming it (exit 2) instead of Hydra's multi-line message; during the job every
:class:`SynthgenError` becomes one line on stderr, exit code 2, and the run folder is removed.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .commands import COMMANDS  # the command list, written once
CONFIG_MODULE = "synthgen.conf"

# Hydra flags that take a value (the value is not an override)
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--experimental-rerun", "--shell-completion", "-sc"}
_INFO_FLAGS = {"--help", "-h", "--hydra-help", "--version", "--info", "-i", "--shell-completion", "-sc"}


def _fail(msg: str, code: int = 2) -> None:
    print(f"synthgen: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def _setup_env() -> None:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(v, "1")


def _split(argv: list[str]) -> tuple[list[str], bool, bool]:
    """(overrides, multirun?, info-only?)"""
    overrides, multirun, info = [], False, False
    it = iter(range(len(argv)))
    skip = False
    for i in it:
        a = argv[i]
        if skip:
            skip = False
            continue
        if a in ("-m", "--multirun"):
            multirun = True
        elif a in _INFO_FLAGS:
            info = True
            if a in ("--info", "-i", "--shell-completion", "-sc") and i + 1 < len(argv) and "=" not in argv[i + 1] and not argv[i + 1].startswith("-"):
                skip = True
        elif a.split("=", 1)[0] in _FLAGS_WITH_VALUE:
            if "=" not in a:
                skip = True
        elif a.startswith("-") and "=" not in a:
            continue
        else:
            overrides.append(a)
    return overrides, multirun, info


def _first_values(overrides: list[str]) -> list[str]:
    """For a multirun precheck: replace every sweep by its first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for o in parser.parse_overrides(overrides):
        if o.is_sweep_override():
            try:
                first = next(iter(o.sweep_string_iterator()))
            except (StopIteration, Exception):
                continue
            out.append(f"{o.get_key_element()}={first}")
        else:
            out.append(o.input_line)
    return out


def precheck(command: str, overrides: list[str], multirun: bool) -> None:
    """Compose the config once; turn Hydra's composition errors into one line naming the key."""
    from hydra import compose, initialize_config_module
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    try:
        ov = _first_values(overrides) if multirun else overrides
    except OverrideParseException as e:
        _fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(config_name=command, overrides=ov, return_hydra_config=not multirun)
        if not multirun:
            _remember_run_dir(cfg)
    except MissingConfigException as e:
        missing = getattr(e, "missing_cfg_file", None) or ""
        opts = getattr(e, "options", None)
        group = missing.rsplit("/", 1)[0] if "/" in missing else missing
        name = missing.rsplit("/", 1)[-1]
        avail = f" (available: {', '.join(sorted(opts))})" if opts else ""
        _fail(f"{group}={name}: no such {group} config{avail}")
    except OverrideParseException as e:
        _fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    except ConfigCompositionException as e:
        msg = str(e).strip().splitlines()
        cause = e.__cause__
        key = None
        if cause is not None and getattr(cause, "full_key", None):
            key = cause.full_key
        detail = msg[0] if msg else "invalid override"
        full = " ".join(msg) + " " + str(cause or "")
        if "Could not override" in full or "is not in struct" in full:
            bad = full.split("Could not override '", 1)[1].split("'", 1)[0] if "Could not override '" in full else key
            key, detail = bad, "unknown config key (see `synthgen --cfg job`; prefix with + to add a new key)"
        _fail(f"{key}: {detail}" if key else detail)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        _fail(f"{key}: {str(e).splitlines()[0]}" if key else str(e).splitlines()[0])


# entries of the run folder before this invocation: {resolved run dir: names} (single runs only)
_PREEXISTING: dict[str, set[str]] = {}


def _remember_run_dir(cfg) -> None:
    """Note what the run folder holds before Hydra writes ``.hydra/`` and the log into it, so clean-up
    after an error removes only what this invocation created (a reused folder keeps its files)."""
    try:
        d = Path(str(cfg.hydra.run.dir)).expanduser().resolve()
    except Exception:  # an interpolation only Hydra can resolve: the folder is new anyway
        return
    _PREEXISTING[str(d)] = {p.name for p in d.iterdir()} if d.is_dir() else set()


def _cleanup(out_dir: Path, before: set[str]) -> None:
    """Remove what this job wrote into its run folder (and the folder itself when it is then empty)."""
    if not out_dir.exists():
        return
    for p in out_dir.iterdir():
        if p.name not in before:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    cwd = Path.cwd().resolve()
    d = out_dir.resolve()
    while d != cwd and d != d.parent and d.exists() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent
        if d == cwd or cwd not in d.parents:
            break


def _make_app(command: str):
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://" + CONFIG_MODULE, config_name=command)
    def app(cfg):
        from hydra.core.hydra_config import HydraConfig

        from .errors import SynthgenError
        from .options import check_options
        from .commands import get_job

        out_dir = Path(HydraConfig.get().runtime.output_dir)
        before = _PREEXISTING.get(str(out_dir.resolve()), set())
        try:
            check_options(command, cfg)
            res = get_job(command)(cfg, out_dir)
            from .gate import ci_exit_code

            code = ci_exit_code(cfg, res) if HydraConfig.get().mode.name != "MULTIRUN" else 0
            if code:  # gate.ci=true: the report stays on disk, the exit code tells CI the verdict
                sys.exit(code)
            if command == "run" and isinstance(res, dict) and res.get("report") is not None:
                from .sweep import objective

                # the number an Optuna sweep maximises (other launchers ignore the return value)
                return objective(res["report"], (cfg.get("objective") or {}).get("class"))
            return res
        except SynthgenError as e:
            from .errors import MergeError

            if isinstance(e, MergeError) and (out_dir / "report.json").exists():
                # generated, validated and reported: only the merge failed; the run folder is kept
                _fail(f"{e} (the run is complete: merge it later with `synthgen merge run_dir={out_dir}`)", e.exit_code)
            _cleanup(out_dir, before)
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            print(f"synthgen: interrupted; run again with hydra.run.dir={out_dir} to resume", file=sys.stderr)
            raise

    return app


def main(argv: list[str] | None = None) -> None:
    _setup_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "run"
    if argv and argv[0] in COMMANDS:
        command = argv.pop(0)
    elif argv and not argv[0].startswith("-") and "=" not in argv[0]:
        _fail(f"unknown command '{argv[0]}' (commands: {', '.join(COMMANDS)}; or give overrides for the default job)")
    overrides, multirun, info = _split(argv)
    if not info:
        precheck(command, overrides, multirun)
    sys.argv = [f"synthgen-{command}"] + argv
    _make_app(command)()


if __name__ == "__main__":  # pragma: no cover
    main()
