"""The command list, written once: the CLI, the jobs and the tests derive from it.

Each entry is ``name: (job, summary)``: ``job`` is ``"module:function"`` (imported only when the command
runs, so ``synthgen --help`` stays cheap), the function takes ``(cfg, out_dir)``; ``summary`` is the
line ``synthgen --help`` prints. A command's primary config is ``synthgen/conf/<name>.yaml``.
"""
from __future__ import annotations

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("synthgen.pipeline:run_job", "generate, validate, gate and merge synthetic data (the default)"),
    "plan": ("synthgen.pipeline:plan_job", "show how many samples each rare class would get"),
    "validate": ("synthgen.pipeline:validate_job", "validate an existing synthetic set against real data"),
    "merge": ("synthgen.pipeline:merge_job", "merge a validated run into a training-set version"),
    "collect": ("synthgen.pipeline:collect_job", "collect the runs of a sweep into one training-set version"),
    "stress": ("synthgen.stress:stress_job", "build a stress-test suite of graded corruptions and edge cases"),
    "evaluate": ("synthgen.evaluate:evaluate_job", "evaluate a model on a stress suite; fail when robustness drops"),
    "loop": ("synthgen.loop:loop_job", "rounds of plan from the model's errors -> generate -> gate -> merge -> refit"),
    "audit": ("synthgen.audit:audit_job", "trace a sample, version or run to who made and admitted it; verify=true checks a log"),
    "review": ("synthgen.review:review_job", "human review in Label Studio: `review export` the uncertain samples, `review import` the decisions"),
}

# Words a command takes in place of ``action=<word>`` (``synthgen review export`` = ``synthgen review
# action=export``); the CLI maps a first argument found here to that override.
SUBCOMMANDS: dict[str, tuple[str, ...]] = {
    "review": ("export", "import"),
}


def get_job(command: str):
    """The job function of ``command`` (imports its module)."""
    import importlib

    mod, fn = COMMANDS[command][0].split(":")
    return getattr(importlib.import_module(mod), fn)
