"""The ``synthgen`` console script: ``synthgen [command] [hydra overrides and flags]``.

Every command is a Hydra app with its own primary config in ``synthgen.conf`` (``run.yaml``,
``plan.yaml``, ...), so ``--help``, ``--cfg job``, overrides and ``-m`` multirun work for all of them.
``synthgen`` alone runs the default job (``run`` on the bundled digits).

``--help`` and ``--version`` are answered here (Hydra's help composes every option of every config
group to list them), and ``-sc install=bash|zsh|fish`` prints a completion script for ``synthgen``
that completes the command names, then each command's overrides (Hydra's own query, per command).
During a job, what the terminal shows also goes to Hydra's job log (``<run>/<command>.log``).

Before handing over to Hydra the overrides are composed once, so an unknown config option or key
becomes one line naming it (exit 2) instead of Hydra's multi-line message; during the job every
:class:`SynthgenError` becomes one line on stderr, exit code 2, and the run folder is removed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from .commands import COMMANDS, SUBCOMMANDS  # the command list, written once
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


def verbose_requested(argv: list[str]) -> bool:
    """``hydra.verbose=...`` (true or logger names) on the command line, or ``SYNTHGEN_VERBOSE=1``."""
    if os.environ.get("SYNTHGEN_VERBOSE", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    for a in argv:
        if a.lstrip("+").startswith("hydra.verbose="):
            return a.split("=", 1)[1].strip().lower() not in ("", "false", "null", "none", "[]", "0")
    return False


# loggers that announce routine events at INFO/WARNING: shown with hydra.verbose=true or SYNTHGEN_VERBOSE=1
_NOISY_LOGGERS = {
    "alembic": "WARNING",  # Optuna's database migrations: "Context impl SQLiteImpl.", "Will assume non-transactional DDL."
    "ray._private.authentication.authentication_token_setup": "ERROR",  # Ray 2.5x+: "Token authentication is enabled ..."
}


def quiet_third_party() -> None:
    """Silence third-party chatter that says nothing about the user's job: Optuna's alembic lines,
    Ray's token-authentication notice, diffusers' "install accelerate" block and transformers'
    "requires torchvision" fallbacks (their own verbosity variables, inherited by worker processes;
    a value the user set wins).  Errors still show."""
    import logging

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for name, level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


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
    """Make Hydra's composition errors one line naming the key (exit 2), composing the config once.

    A plain run is composed only by Hydra, for the job: its composition is wrapped (one-line errors,
    the run folder's prior entries remembered for cleanup), and the extra composition Hydra makes
    only to read ``hydra.mode`` is answered without composing (no synthgen config sets it; an
    override of it is left to Hydra).  A sweep is composed here once with each sweep's first value,
    so a bad override fails before any job starts."""
    if multirun:
        compose_checked(command, overrides, multirun, hydra_config=False)
        return
    _compose_once(command, overrides)


def _compose_once(command: str, overrides: list[str]) -> None:
    from hydra._internal.hydra import Hydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from hydra.types import RunMode

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as e:
        _fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    sets_mode = any(o.get_key_element().lstrip("+~").startswith(("hydra.mode", "hydra/")) for o in parsed)
    key = (command, list(overrides))
    get_mode = getattr(Hydra.get_mode, "__wrapped__", Hydra.get_mode)
    compose_config = getattr(Hydra.compose_config, "__wrapped__", Hydra.compose_config)

    def mode(self, config_name, overrides):
        if (config_name, list(overrides)) == key and not sets_mode:
            return None  # what composing would give: hydra.mode unset, so Hydra runs a single job
        return get_mode(self, config_name=config_name, overrides=overrides)

    def compose(self, config_name, overrides, run_mode, *a, **k):
        # with hydra.mode unset Hydra adds hydra.mode=RUN to the job's overrides
        ov = list(overrides)[:-1] if list(overrides)[-1:] == ["hydra.mode=RUN"] else list(overrides)
        if (config_name, ov) != key or run_mode != RunMode.RUN:
            return compose_config(self, config_name, overrides, run_mode, *a, **k)
        with composition_errors():
            cfg = compose_config(self, config_name, overrides, run_mode, *a, **k)
        _remember_run_dir(cfg)
        return cfg

    mode.__wrapped__ = get_mode  # type: ignore[attr-defined]
    compose.__wrapped__ = compose_config  # type: ignore[attr-defined]
    Hydra.get_mode = mode  # type: ignore[method-assign]
    Hydra.compose_config = compose  # type: ignore[method-assign]


def compose_checked(command: str, overrides: list[str], multirun: bool, hydra_config: bool):
    """The composed config of ``command`` (a sweep composed with its first values); a composition
    error exits with one line naming the key."""
    from hydra import compose, initialize_config_module
    from hydra.errors import OverrideParseException

    try:
        ov = _first_values(overrides) if multirun else overrides
    except OverrideParseException as e:
        _fail(f"cannot parse overrides: {str(e).splitlines()[0]}")
    with composition_errors(), initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=command, overrides=ov, return_hydra_config=hydra_config)


@contextlib.contextmanager
def composition_errors():
    """Hydra's composition errors as one line naming the key or the config, exit 2."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except MissingConfigException as e:
        missing = getattr(e, "missing_cfg_file", None) or ""
        opts = getattr(e, "options", None)
        group = missing.rsplit("/", 1)[0] if "/" in missing else missing
        name = missing.rsplit("/", 1)[-1]
        if not opts:  # Hydra leaves the options out for a list member (validation/validator=[ks,nope])
            import synthgen.conf

            opts = [p.stem for p in (Path(synthgen.conf.__file__).parent / group).glob("*.yaml")]
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
        if detail.startswith("Ambiguous value for argument '"):
            # a comma in a plain run: keep Hydra's hints (sweep, list or string) on the one line
            arg = detail.split("'", 1)[1].rsplit("'", 1)[0]
            k, _, v = arg.partition("=")
            _fail(f"{arg}: ambiguous value: to sweep over it, add --multirun (-m) to your command line; "
                  f"for a list write {k}=[{v}]; for a string quote it: {k}=\\'{v}\\'")
        if "Could not override" in full or "is not in struct" in full:
            bad = full.split("Could not override '", 1)[1].split("'", 1)[0] if "Could not override '" in full else key
            key, detail = bad, "unknown config key (see `synthgen --cfg job`; prefix with + to add a new key)"
            if str(bad).startswith("output.") and str(bad).count(".") >= 2:  # output.kitti.camera with output=auto
                detail += f"; a format's options exist once it is chosen: output={str(bad).split('.')[1]}"
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

    def job(cfg):
        from hydra.core.hydra_config import HydraConfig

        from .errors import SynthgenError
        from .options import check_options
        from .commands import get_job

        out_dir = Path(HydraConfig.get().runtime.output_dir)
        before = _PREEXISTING.get(str(out_dir.resolve()), set())
        try:
            check_options(command, cfg)
            res = get_job(command)(cfg, out_dir)
            from .report import returned_exit_code

            # decided once, when the report was made (gate.ci / evaluate limits); sweeps never exit early
            report = res.get("report", res if "limits" in res else None) if isinstance(res, dict) else None
            code = returned_exit_code(report) if HydraConfig.get().mode.name != "MULTIRUN" else 0
            if code:  # the report stays on disk, the exit code tells CI the verdict
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

    @hydra.main(version_base="1.3", config_path="pkg://" + CONFIG_MODULE, config_name=command)
    def app(cfg):
        restore = _tee_to_run_log()
        try:
            return job(cfg)
        finally:
            restore()

    return app


class _LogTee:
    """A terminal stream that also hands every complete line to the run log's handlers, so
    ``<run>/<job>.log`` (Hydra's job log, e.g. ``run.log``) holds what the terminal showed, with
    timestamps.  Progress-bar redraws (a carriage return) keep only their last state."""

    def __init__(self, stream, handlers: list, level: int):
        self._stream, self._handlers, self._level, self._buf = stream, handlers, level, ""

    def write(self, s):
        n = self._stream.write(s)
        try:
            self._buf += s
            if "\n" in self._buf:
                import logging
                import re

                *lines, self._buf = self._buf.split("\n")
                for line in lines:
                    line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line.rsplit("\r", 1)[-1]).rstrip()
                    if line:
                        rec = logging.LogRecord("synthgen", self._level, __file__, 0, line, None, None)
                        for h in self._handlers:
                            if rec.levelno >= h.level:
                                h.handle(rec)
            elif len(self._buf) > 65536:  # a bar redrawn for minutes without a newline
                self._buf = self._buf.rsplit("\r", 1)[-1][-4096:]
        except Exception:  # the log must never break the terminal
            pass
        return n

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding, buffer, ...: the terminal's
        return getattr(self._stream, name)


def _tee_to_run_log():
    """Copy the job's terminal output into the log files Hydra opened for it; returns the undo."""
    import logging

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not handlers:  # hydra/job_logging=disabled or none
        return lambda: None
    out, err = sys.stdout, sys.stderr
    tee_out, tee_err = _LogTee(out, handlers, logging.INFO), _LogTee(err, handlers, logging.WARNING)
    sys.stdout, sys.stderr = tee_out, tee_err

    def restore() -> None:
        if sys.stdout is tee_out:
            sys.stdout = out
        if sys.stderr is tee_err:
            sys.stderr = err

    return restore


DISTRIBUTION = "synthgen-rare"  # pyproject.toml [project] name; the import name is synthgen


def version_line() -> str:
    """``synthgen <version> (synthgen-rare, Hydra <version>)``, from the installed distributions' metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that is not installed
        from . import __version__ as mine
    try:
        hydra = version("hydra-core")
    except PackageNotFoundError:  # pragma: no cover
        hydra = "not installed"
    return f"synthgen {mine} ({DISTRIBUTION}, Hydra {hydra})"


def config_groups() -> dict[str, list[str]]:
    """{group: sorted option names} of synthgen's own config package, read from the files (Hydra's help
    composes every option of every group, 91 with Hydra's own, to list them: ~1.5 CPU-s)."""
    from importlib.resources import files

    out: dict[str, list[str]] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir() and not child.name.startswith(("_", ".")):
                name = f"{prefix}{child.name}"
                opts = sorted(c.name[:-5] for c in child.iterdir() if c.is_file() and c.name.endswith(".yaml"))
                if opts:
                    out[name] = opts
                walk(child, name + "/")

    walk(files(CONFIG_MODULE), "")
    return dict(sorted(out.items()))


_FLAGS_HELP = """\
-m, --multirun        : run one job per combination of comma-separated values (policy.target=50,60)
--cfg, -c job|hydra|all : print the composed config instead of running (--package, -p: one key)
--resolve             : resolve interpolations in --cfg and --help output
--info, -i            : Hydra's information (config search path, defaults tree, ...)
--hydra-help          : Hydra's own help: its flags and config groups (launchers, sweepers, logging)
--version             : synthgen's version
--shell-completion, -sc install=bash|zsh|fish : print a completion script for `synthgen`
                        (bash: eval "$(synthgen -sc install=bash)")
--config-dir, -cd DIR : add DIR to the config search path (your own dataset/, generator/, ... files)"""


def help_text(command: str, argv: list[str], top: bool) -> str:
    """What ``synthgen [command] --help`` prints: the commands (``synthgen --help``), the config groups
    with the current choice, the composed config and the flags.  Composes the config once."""
    from omegaconf import OmegaConf

    overrides, multirun, _ = _split([a for a in argv if a not in ("--help", "-h")])
    cfg = compose_checked(command, overrides, multirun, hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    try:
        config = OmegaConf.to_yaml(job, resolve="--resolve" in argv)
    except Exception:  # an interpolation only a running job can resolve (${hydra:runtime...})
        config = OmegaConf.to_yaml(job)
    groups = config_groups()
    lines: list[str] = []
    summary = COMMANDS[command][1]
    if top:
        lines += [f"{version_line()}: labeled synthetic data for rare classes, validated before it is merged",
                  "",
                  "Usage: synthgen [COMMAND] [OVERRIDE ...] [FLAGS]",
                  "       synthgen alone runs the default job (`run` on scikit-learn's bundled digits)",
                  "",
                  "== Commands ==",
                  *[f"  {name:<10} {spec[1]}" for name, spec in COMMANDS.items()],
                  "",
                  "`synthgen COMMAND --help` shows the groups and config of one command.",
                  "",
                  "== Configuration groups =="]
    else:
        lines += [f"synthgen {command}: {summary}", "",
                  f"Usage: synthgen {command} [OVERRIDE ...] [FLAGS]", "",
                  "== Configuration groups =="]
    lines.append("Compose your configuration from those groups (group=option; the current choice in [brackets])")
    lines.append("")
    used = sorted(set(choices) | {g for g in groups if g.split("/")[0] in choices})
    for g in used:
        current = choices.get(g, "")
        opts = groups.get(g, [])
        shown = [f"[{o}]" if o == current else o for o in opts]
        if current is None:
            shown.append("[null]")
        elif current and current not in opts:
            shown.append(f"[{current}]")
        lines.append(f"{g}: {', '.join(shown)}")
    others = [g for g in groups if g not in used and not g.startswith("hydra")] if top else []
    if others:
        lines += ["", "Other groups (add one with +group=option, e.g. +experiment=digits_ddpm):"]
        lines += [f"{g}: {', '.join(groups[g])}" for g in others]
    launch = [g for g in groups if g.startswith("hydra/")]
    if launch:
        lines += ["", "Launchers and sweepers shipped with synthgen (hydra/launcher=NAME; all of Hydra's: --hydra-help):"]
        lines += [f"{g}: {', '.join(groups[g])}" for g in launch]
    lines += ["", "== Config ==", "Override anything in the config (foo.bar=value)", "", config.rstrip(), "",
              "== Flags ==", _FLAGS_HELP, ""]
    return "\n".join(lines)


def _completion_request(argv: list[str]) -> tuple[str, str] | None:
    """``("query", "bash")`` for ``-sc query=bash`` (also install/uninstall); None without -sc."""
    for i, a in enumerate(argv):
        val = None
        if a in ("-sc", "--shell-completion") and i + 1 < len(argv):
            val = argv[i + 1]
        elif a.startswith("--shell-completion="):
            val = a.split("=", 1)[1]
        if val and "=" in val:
            action, shell = val.split("=", 1)
            return action, shell
    return None


def complete_query(shell: str) -> str:
    """Answer a completion query (``COMP_LINE``, as Hydra's bash, zsh and fish scripts send it) for
    ``synthgen``: while the first word is typed, the command names that match it (printed here, one
    line) and Hydra's completions of the default job; after a command, Hydra's completions of that
    command, with the command word removed from ``COMP_LINE`` so Hydra sees an ordinary app line.
    Returns the command whose Hydra app answers the rest."""
    import re

    line = os.environ.get("COMP_LINE", "")
    m = re.match(r"^\s*\S+\s*(.*)$", line, re.S)  # drop the program name (synthgen or a path to it)
    rest = m.group(1) if m else ""
    words = rest.split()
    first_done = bool(words) and (len(words) > 1 or rest.endswith((" ", "\t")))
    if words and first_done and words[0] in COMMANDS:
        os.environ["COMP_LINE"] = "synthgen " + rest[len(words[0]):].lstrip()  # rest starts with the command
        return words[0]
    if not first_done:
        prefix = words[0] if words else ""
        names = [c for c in COMMANDS if c.startswith(prefix)] if "=" not in prefix and not prefix.startswith(("+", "~", "-")) else []
        if names:
            print(("\n" if shell == "fish" else " ").join(names), flush=True)
    return "run"


def main(argv: list[str] | None = None) -> None:
    _setup_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not verbose_requested(argv):
        quiet_third_party()
    if "--version" in argv:
        print(version_line())
        return
    sc = _completion_request(argv)
    if sc is not None:
        # the completion script is written for `synthgen` (Hydra names it after sys.argv[0]) and
        # completes command names, then the Hydra overrides of the command typed
        command = complete_query(sc[1]) if sc[0] == "query" else "run"
        sys.argv = ["synthgen"] + argv
        _make_app(command)()
        return
    command = "run"
    had_command = bool(argv) and argv[0] in COMMANDS
    if had_command:
        command = argv.pop(0)
        if argv and argv[0] in SUBCOMMANDS.get(command, ()):  # synthgen review export ... -> action=export
            argv[0] = f"action={argv[0]}"
    elif argv and not argv[0].startswith("-") and "=" not in argv[0]:
        _fail(f"unknown command '{argv[0]}' (commands: {', '.join(COMMANDS)}; or give overrides for the default job)")
    if "--help" in argv or "-h" in argv:
        # our own help: Hydra's lists the options of all 91 groups by composing each (1.5 CPU-s)
        text = help_text(command, argv, top=not had_command)
        try:
            print(text, flush=True)
        except BrokenPipeError:  # synthgen --help | head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    overrides, multirun, info = _split(argv)
    if not info:
        precheck(command, overrides, multirun)
    sys.argv = [f"synthgen-{command}"] + argv
    _make_app(command)()


if __name__ == "__main__":  # pragma: no cover
    main()
