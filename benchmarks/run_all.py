"""Run every ``benchmarks/bench_*.py`` (each has ``main()``) and print their ratios.

    python benchmarks/run_all.py [name ...]     # e.g. text validators image_generators ddpm_digits

The names on this command line choose the benches; they are not passed on: each bench runs with its
own defaults (``main([])``).  A bench that fails, or exits through argparse, is reported and the
later benches still run; the exit status is 1 if any failed, 2 for a name that matches no bench.
"""
from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _run(stem: str) -> None:
    main = importlib.import_module(f"benchmarks.{stem}").main
    if inspect.signature(main).parameters:
        main([])  # its defaults, not run_all's argv
    else:
        main()


def main(names: list[str]) -> int:
    paths = sorted(HERE.glob("bench_*.py"))
    known = {p.stem for p in paths} | {p.stem.removeprefix("bench_") for p in paths}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"run_all.py: no benchmark named {', '.join(unknown)} (choose from "
              f"{', '.join(sorted(p.stem.removeprefix('bench_') for p in paths))})", file=sys.stderr)
        return 2
    failed = []
    for path in paths:
        if names and path.stem not in names and path.stem.removeprefix("bench_") not in names:
            continue
        print(f"== {path.stem}", flush=True)
        try:
            _run(path.stem)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - SystemExit from a bench's argparse too: go on with the next
            failed.append(path.stem)
            if isinstance(e, SystemExit):
                print(f"{path.stem} exited with status {e.code}", file=sys.stderr)
            else:
                traceback.print_exc()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
