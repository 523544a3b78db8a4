"""Scale benchmarks (issue 8), one run:

1. Parallel efficiency of ``workers=2`` against ``workers=1`` for generation (goal: at least 1.8x on
   this 2-core machine), wall time.
2. Launcher overhead per job: the same small multirun of 4 shard jobs through Hydra's basic launcher,
   joblib and a local Ray instance; reported per job against the basic launcher.
3. Peak memory (max RSS of the ``synthgen`` process) against the number of synthetic images, with the
   validation featurizing every image: the curve should stay flat.

Usage: ``python benchmarks/bench_scale.py [--big]`` (``--big`` adds 100,000 images to the memory curve).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # run as a script or through run_all

from benchmarks.common import median_of

EXE = str(Path(sys.executable).parent / "synthgen")


def bench_workers(n: int = 3000) -> str:
    from synthgen.generators.image import ImageAugment
    from synthgen.io.digits import load_digits_dataset
    from synthgen.stream import Stage, run_generation

    ds = load_digits_dataset(64)
    gen = ImageAugment([{"name": "Affine", "rotate": [-10, 10], "translate_px": [-3, 3], "p": 1.0},
                        {"name": "ElasticTransform", "alpha": 3, "sigma": 4, "p": 0.5},
                        {"name": "GaussNoise", "std_range": [0.01, 0.03], "p": 0.5}]).fit(ds)
    todo = [("3", n, range(n))]

    def run(workers):
        d = Path(tempfile.mkdtemp(prefix="sg-w"))
        try:
            run_generation(gen, todo, 0, Stage(d).open(), workers=workers, chunk=50, progress=False)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    t1 = median_of(lambda: run(1), 2, clock=time.perf_counter)[0]
    t2 = median_of(lambda: run(2), 2, clock=time.perf_counter)[0]
    return (f"{'generation workers=2 vs workers=1, ' + str(n) + ' images 64x64':<48} workers=1 {t1:7.2f}s  "
            f"workers=2 {t2:7.2f}s  speed-up {t1 / t2:5.2f}x (goal >= 1.8x; efficiency {t1 / t2 / 2:.0%})")


def _multirun(launcher: list[str], tmp: Path) -> float:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_TMPDIR": tempfile.mkdtemp(prefix="ray", dir="/tmp")}
    t = time.perf_counter()
    subprocess.run([EXE, "-m", "shard=0/4,1/4,2/4,3/4", f"hydra.sweep.dir={tmp}", "policy.target=60", *launcher],
                   check=True, capture_output=True, env=env, cwd=tmp.parent, timeout=900)
    return time.perf_counter() - t


def bench_launchers() -> list[str]:
    out = []
    base = None
    for name, args in [("basic", []), ("joblib", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]),
                       ("ray", ["hydra/launcher=ray_local"])]:
        tmp = Path(tempfile.mkdtemp(prefix=f"sg-{name}")) / "sweep"
        try:
            t = _multirun(args, tmp)
        except subprocess.CalledProcessError as e:
            out.append(f"launcher {name}: failed ({e.stderr.decode()[-200:]})")
            continue
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
        if base is None:
            base = t
        out.append(f"{'multirun of 4 shard jobs, launcher ' + name:<48} total {t:7.2f}s  per job {t / 4:6.2f}s  "
                   f"ratio to basic {t / base:5.2f}  (overhead per job vs basic {(t - base) / 4:+.2f}s)")
    return out


_MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.PIPE); sys.stderr.write(r.stderr.decode()[-400:] if r.returncode else ''); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)")


def _peak_rss(n: int) -> tuple[float, float]:
    """Max RSS (MB) of one ``synthgen`` run with ``n`` synthetic images, measured in its own parent."""
    tmp = Path(tempfile.mkdtemp(prefix="sg-mem"))
    try:
        t = time.perf_counter()
        cmd = [EXE, f"hydra.run.dir={tmp / 'run'}", "merge.into=null", "policy.classes=[8]",
               f"policy.target={n + 15}", "policy.max_synthetic_fraction=0.99999",
               "validation.validators.mmd.n_permutations=100"]
        p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=tmp, capture_output=True, text=True, timeout=3600)
        kb = int(p.stdout.strip() or -1)
        if kb < 0:
            raise RuntimeError(p.stderr[-400:])
        return kb / 1024.0, time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_memory(sizes=(1_000, 10_000, 30_000)) -> list[str]:
    """Peak memory of whole runs (generate, write, featurize and validate every image) per size."""
    out = []
    first = None
    for n in sizes:
        mb, secs = _peak_rss(n)
        first = first or mb
        out.append(f"{'peak memory, run with ' + format(n, ',') + ' synthetic images':<48} {mb:8.0f} MB  "
                   f"({mb / first:4.2f}x the 1,000-image run; {secs:5.0f}s)")
    return out


def main(argv=()) -> None:
    print(bench_workers())
    for line in bench_launchers():
        print(line)
    sizes = (1_000, 10_000, 30_000, 100_000) if "--big" in argv else (1_000, 10_000, 30_000)
    for line in bench_memory(sizes):
        print(line)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
