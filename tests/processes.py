"""``boltq run`` as a real subprocess, for tests that need a whole process:
signals, the CLI, fuzzing over real HTTP. Real time: every wait has a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BoltQProcess:
    """One ``boltq run`` subprocess and an HTTP client for its API."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str,
                 listen: str = "API_PORT") -> None:
        """``listen`` names the setting that gets the port polled for /healthz."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"boltq-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items()
                    if k not in {"REDIS_ADDR", "REDIS_URL", "BOLTQ_IMPORTS", "API_TOKENS"}}
        full_env.update({listen: str(self.port), "LOG_LEVEL": "info", **env})
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "boltq", "run", *args], cwd=tmp_path, env=full_env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._wait_ready()

    @classmethod
    def without_api(cls, tmp_path: Path, env: dict[str, str], *args: str) -> BoltQProcess:
        """A role with no API (worker, scheduler): readiness through METRICS_PORT."""
        return cls(tmp_path, env, *args, listen="METRICS_PORT")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"boltq exited early:\n{self.log()}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"boltq did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_status(self, job_id: str, *statuses: str, within: float = 20.0) -> dict:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            job = self.http.get(f"/api/jobs/{job_id}").json()
            if job.get("status") in statuses:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never reached {statuses}: {job}\n{self.log()}")

    def terminate(self, within: float = 40.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=within)

    def close(self) -> None:
        """Stop it (SIGTERM, then SIGKILL if it lingers)."""
        self.http.close()
        stop_process(self.proc)
