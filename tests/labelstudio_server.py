"""A real Label Studio server for the review tests: 127.0.0.1, a free port, SQLite in a temporary folder.

Label Studio lives in an environment of its own (``.venv-ls``, made by ``make labelstudio``: its
pins clash with synthgen's).  Creating its database runs a few hundred Django migrations (minutes
on a busy 2-core machine), so a migrated data folder with the test reviewer and API token is made
once (``.venv-ls/template-data``, by ``make labelstudio`` or the first test) and each test starts
from a copy of it.

    python -m tests.labelstudio_server --template   # build the template (what make labelstudio runs)
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LS_VENV = Path(os.environ.get("SYNTHGEN_LABEL_STUDIO_VENV", ROOT / ".venv-ls"))
LS_BIN = LS_VENV / "bin" / "label-studio"
TEMPLATE = LS_VENV / "template-data"
USER, PASSWORD = "reviewer@example.org", "review-pass-1"
TOKEN = "5eed0f5ynthgen0review0token000000000000a"  # a legacy API token (40 characters)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``label-studio start`` on ``data_dir``; :meth:`stop` ends the process group it started."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir, self.port = Path(data_dir), port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.data_dir.parent / f"label-studio-{self.port}.log"

    def start(self, timeout: float = 900) -> Server:
        if not LS_BIN.exists():
            raise RuntimeError(f"{LS_BIN} not found: run `make labelstudio` (Label Studio in its own venv)")
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir), "LATEST_VERSION_CHECK": "false",
               "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "",
               "FRONTEND_SENTRY_DSN": "", "DJANGO_DB": "sqlite", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
               "OMP_NUM_THREADS": "1"}
        env.pop("VIRTUAL_ENV", None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(LS_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(self.port),
               "--username", USER, "--password", PASSWORD, "--user-token", TOKEN, "--enable-legacy-api-token",
               "--skip-long-migrations", "--log-level", "WARNING"]
        with open(self.log, "wb") as logf:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd=str(self.data_dir))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                req = urllib.request.Request(self.url + "/api/projects", headers={"Authorization": f"Token {TOKEN}"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"label-studio did not answer on {self.url} within {timeout:g} s (log: {self.log})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this object started, nothing else
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None


def make_template(force: bool = False) -> Path:
    """The migrated data folder with the reviewer and the token (built once, then copied)."""
    if (TEMPLATE / "label_studio.sqlite3").exists() and not force:
        return TEMPLATE
    tmp = TEMPLATE.with_name(TEMPLATE.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    srv = Server(tmp / "data").start()
    srv.stop()
    shutil.rmtree(TEMPLATE, ignore_errors=True)
    os.replace(tmp / "data", TEMPLATE)
    shutil.rmtree(tmp, ignore_errors=True)
    return TEMPLATE


def started(data_dir: Path) -> Server:
    """A server on a fresh copy of the template in ``data_dir``."""
    shutil.copytree(make_template(), data_dir)
    return Server(data_dir).start()


if __name__ == "__main__":
    if sys.argv[1:] == ["--template"]:
        t0 = time.monotonic()
        print(f"Label Studio template data folder: {make_template(force=True)} ({time.monotonic() - t0:.0f} s)")
    else:
        print(__doc__.strip().splitlines()[-1].strip())
        sys.exit(2)
