"""The client commands of ``boltq`` against a real ``boltq run`` process.

One server (embedded store) serves the whole module; every command runs as
``python -m boltq ...`` in real time, so jobs are short and waits have
deadlines. Tests that need a clean dead letter queue purge it first.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.processes import BoltQProcess, free_port

#: Settings a user's shell might carry that would point the commands elsewhere.
CLIENT_VARIABLES = frozenset({"API_PORT", "API_TOKENS", "BOLTQ_TOKEN", "REDIS_ADDR",
                              "REDIS_URL", "NO_COLOR"})
#: Every command finishes well within this, --wait included.
COMMAND_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoltQProcess]:
    process = BoltQProcess(tmp_path_factory.mktemp("server"), {"NUM_WORKERS": "8"})
    try:
        yield process
    finally:
        process.close()


def command_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
    env.update(extra)
    return env


def boltq(server: BoltQProcess | None, *args: str,
          **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m boltq ARGS``, finding ``server`` through API_PORT as a user would."""
    (done,) = boltq_together(server, args, **env)
    return done


def boltq_together(server: BoltQProcess | None, *commands: tuple[str, ...],
                   **env: str) -> list[subprocess.CompletedProcess[str]]:
    """Several independent commands at once (each one is a process start-up)."""
    if server is not None:
        env = {"API_PORT": str(server.port), **env}
    running = [(args, subprocess.Popen(
        [sys.executable, "-m", "boltq", *args], env=command_env(**env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL))
        for args in commands]
    done = []
    for args, proc in running:
        try:
            out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert done.stderr == "", done.stderr
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit ``code``, exactly one ``boltq: ...`` line on stderr, nothing else."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("boltq: "), lines[0]
    assert done.stdout == ""
    return lines[0]


def test_submit_with_wait_prints_the_finished_job(server):
    waited, waited_json, dead = boltq_together(
        server,
        ("submit", "test", "--payload", '{"sleep": 1, "result": "hi"}', "--tag", "cli",
         "--tag", "wait", "--wait"),
        ("submit", "test", "--payload", '{"result": [1]}', "--priority", "9", "--timeout", "5",
         "--json", "--wait"),
        ("submit", "test", "--payload", '{"fail": true}', "--max-attempts", "1", "--wait"))
    first, *rows = ok(waited).splitlines()
    job_id, status = first.split()
    assert job_id.startswith("job_") and status == "completed"
    assert "  tags        cli, wait" in rows
    assert '  result      "hi"' in rows
    assert any(row.startswith("  finished    20") for row in rows)

    finished = json.loads(ok(waited_json))
    assert (finished["status"], finished["result"], finished["priority"]) == (
        "completed", [1], 9)

    assert dead.returncode == 1, (dead.stdout, dead.stderr)
    assert dead.stdout.split()[1] == "dead_letter"
    assert "error       test job failed on attempt 1 as asked" in dead.stdout


def test_submit_status_cancel_and_their_json(server):
    job_id = ok(boltq(server, "submit", "test", "--payload", '{"sleep": 30}')).strip()
    assert job_id.startswith("job_") and "\n" not in job_id
    server.wait_for_status(job_id, "running")

    shown, as_json, other = boltq_together(
        server, ("status", job_id), ("status", job_id, "--json"),
        ("submit", "test", "--payload", '{"sleep": 30}', "--json"))
    assert ok(shown).splitlines()[0] == f"{job_id}  running"
    assert "  payload     {\"sleep\": 30}" in ok(shown).splitlines()
    job = json.loads(ok(as_json))
    assert (job["id"], job["status"], job["attempts"]) == (job_id, "running", 1)
    other_id = json.loads(ok(other))["job_id"]
    assert json.loads(ok(other))["status"] == "pending"

    cancelled, cancelled_json = boltq_together(server, ("cancel", job_id),
                                               ("cancel", other_id, "--json"))
    assert ok(cancelled) == f"{job_id}: cancelled\n"
    assert json.loads(ok(cancelled_json)) == {"job_id": other_id, "status": "cancelled"}
    line = one_line_error(boltq(server, "cancel", job_id), 1)
    assert line == f"boltq: job {job_id!r} already finished (cancelled)"


def test_stats_human_and_json(server):
    shown, as_json = boltq_together(server, ("stats",), ("stats", "--json"))
    rows = dict(line.split() for line in ok(shown).splitlines())
    for name in ("published", "processed", "failed", "retry", "dead_letter", "pending",
                 "running", "delayed", "cancelled"):
        assert rows[name].isdigit()
    stats = json.loads(ok(as_json))
    assert stats["published"] >= int(rows["published"])
    assert all(isinstance(value, int) for value in stats.values())


def submit_over_http(server: BoltQProcess, **job: object) -> str:
    answer = server.http.post("/api/jobs", json={"type": "test", **job})
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def test_retry_and_the_dead_letter_queue_list_retry_purge(server):
    assert "purged" in json.loads(ok(boltq(server, "dead-letter", "purge", "--json")))
    done = submit_over_http(server)
    ids = [submit_over_http(server, payload={"fail": True}, max_attempts=1) for _ in range(2)]
    for job_id in ids:
        server.wait_for_status(job_id, "dead_letter")
    server.wait_for_status(done, "completed")

    listed, page = boltq_together(server, ("dead-letter",), ("dead-letter", "list", "--json"))
    lines = ok(listed).splitlines()
    assert [line.split()[0] for line in lines] == ids[::-1]  # newest first
    assert "error: test job failed on attempt 1 as asked" in lines[0]
    assert [job["id"] for job in json.loads(ok(page))["jobs"]] == ids[::-1]

    retried, refused = boltq_together(server, ("retry", ids[0]), ("retry", done))
    assert ok(retried) == f"{ids[0]}: retrying\n"
    assert one_line_error(refused, 1) == (
        f"boltq: job {done!r} is completed, not in the dead letter queue")
    server.wait_for_status(ids[0], "dead_letter")  # it fails again

    assert ok(boltq(server, "dead-letter", "retry")) == "retried 2 job(s)\n"
    for job_id in ids:
        server.wait_for_status(job_id, "dead_letter")
    assert ok(boltq(server, "dead-letter", "purge")) == "purged 2 job(s)\n"
    assert ok(boltq(server, "dead-letter")) == "the dead letter queue is empty\n"


class LineReader:
    """Lines of a subprocess's stdout, read by a thread so a test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def until(self, done: callable, within: float = 20.0) -> list[str]:  # type: ignore[valid-type]
        """Lines until one satisfies ``done`` (included)."""
        seen: list[str] = []
        deadline = time.monotonic() + within
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no matching line within {within}s; saw {seen}") from None
            seen.append(line)
            if done(line):
                return seen


def start_watch(server: BoltQProcess, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "boltq", "watch", *args],
                            env=command_env(API_PORT=str(server.port)), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def stop_watch(watch: subprocess.Popen[str]) -> str:
    """SIGINT, as Ctrl-C would send; returns stderr after checking a quiet exit 0."""
    watch.send_signal(signal.SIGINT)
    try:
        code = watch.wait(timeout=15)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.stderr is not None
    errors = watch.stderr.read()
    assert code == 0, errors
    return errors


def test_watch_shows_jobs_moving_live_until_ctrl_c(server):
    tag = f"watched-{secrets.token_hex(4)}"
    # --since 0 replays whatever happened before the watch had connected
    watch = start_watch(server, "--tag", tag, "--since", "0")
    as_json = start_watch(server, "--tag", tag, "--status", "completed", "--json", "--since",
                          "0")
    try:
        lines, json_lines = LineReader(watch), LineReader(as_json)
        first = submit_over_http(server, tags=[tag])
        lines.until(lambda line: f"completed    {first}" in line)
        json_lines.until(lambda line: first in line)
        # both are connected now: the next job's events arrive live
        job_id = submit_over_http(server, payload={"fail": 1, "sleep": 0.2}, max_attempts=2,
                                  tags=[tag])
        seen = lines.until(lambda line: f"completed    {job_id}" in line)
        events = [line.split()[1] for line in seen]
        assert events == ["created", "started", "retrying", "pending", "started", "completed"]
        for line in seen:
            hh_mm_ss, _, job, job_type, *_ = line.split()
            assert len(hh_mm_ss) == len("12:00:00.000") and hh_mm_ss[2] == ":"
            assert (job, job_type) == (job_id, "test")
        assert "attempt 1  worker " in seen[1]
        assert seen[2].endswith("error: test job failed on attempt 1 as asked")
        assert "attempt 2  worker " in seen[-1]
        assert "\033[" not in "".join(seen)  # not a terminal: no colours

        (completed,) = json_lines.until(lambda line: True)
        event = json.loads(completed)
        assert (event["job_id"], event["event"], event["attempt"]) == (job_id, "completed", 2)
    finally:
        assert stop_watch(watch) == ""
        assert stop_watch(as_json) == ""


def test_user_errors_are_one_line_with_no_traceback(server):
    closed = f"http://127.0.0.1:{free_port()}"
    bad_json, bad_int, unknown, too_high, refused, refused_ws = boltq_together(
        server, ("submit", "test", "--payload", "{not json"),
        ("submit", "test", "--priority", "high"), ("status", "job_nope"),
        ("submit", "test", "--priority", "101"), ("stats", "--url", closed),
        ("watch", "--url", closed))
    assert one_line_error(bad_json, 2).startswith("boltq: submit: --payload: not valid JSON")
    assert "--priority" in one_line_error(bad_int, 2)
    assert one_line_error(unknown, 1) == "boltq: job 'job_nope' not found"
    assert one_line_error(too_high, 1) == (
        "boltq: priority must be smaller than or equal to 100")
    for done in (refused, refused_ws):
        line = one_line_error(done, 1)
        assert line.startswith(f"boltq: cannot reach the BoltQ API at {closed}"), line


class RecordingHandler(BaseHTTPRequestHandler):
    """Answers every request 401 in BoltQ's error shape, remembering its headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        RecordingHandler.seen.append({"path": self.path, **{
            k.lower(): v for k, v in self.headers.items()}})
        body = json.dumps({"error": "missing or invalid bearer token",
                           "field": "Authorization"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_token_comes_from_the_flag_or_boltq_token():
    RecordingHandler.seen = []
    with ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler) as http:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{http.server_address[1]}"
        try:
            line = one_line_error(boltq(None, "stats", "--url", url, "--token", "from-flag"), 1)
            assert line == "boltq: missing or invalid bearer token"
            one_line_error(boltq(None, "watch", "--url", url, BOLTQ_TOKEN="from-env"), 1)
        finally:
            http.shutdown()
    flag, ws = RecordingHandler.seen
    assert flag["authorization"] == "Bearer from-flag"
    assert ws["path"] == "/api/events?token=from-env" and ws["upgrade"].lower() == "websocket"
