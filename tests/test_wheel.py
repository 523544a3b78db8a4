"""The wheel installs into a fresh virtual environment outside the checkout and its CLI runs there."""
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_in_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    wheels = list(dist.glob("synthgen_rare-*.whl"))
    assert len(wheels) == 1
    import zipfile

    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "synthgen/conf/run.yaml" in names and "synthgen/conf/generator/image_augment.yaml" in names
    assert "synthgen/generators/image/augment.py" in names and "synthgen/validators/distribution.py" in names
    assert not any(n.startswith(("tests/", "conf/", "generators/", "validators/", "benchmarks/")) for n in names)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the heavy dependencies come from the test's environment, appended after the fresh site-packages
    # (a path line in a .pth file does not run that folder's own .pth files, so the checkout's editable
    # install stays invisible)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "zz_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheels[0])],
                   check=True, capture_output=True, text=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import synthgen, synthgen.conf, synthgen.generators; print(synthgen.__file__)"],
                           cwd=work, capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert where.startswith(str(env_dir)), where
    p = subprocess.run([str(env_dir / "bin" / "synthgen"), "plan", f"hydra.run.dir={work / 'run'}"], cwd=work,
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "total" in p.stdout and (work / "run" / "plan.json").exists()
