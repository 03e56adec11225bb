"""Fault injection: real ``boltq run`` processes on a private Redis, then faults.

Several supervisor processes share one redis-server started by the test (its
own port and directory, AOF on, so a stop and restart keeps the data). The
faults are the ones a deployment meets: a worker process killed or frozen
while it holds jobs, Redis going away under load, two schedulers racing,
a cancel arriving through another API process. After each, the test checks
what a user would see: every job finished once, with the right outcome, and
``boltq check`` finds every job in exactly one place.

These run in real time, so every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis

from tests.processes import stop_process

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_DB = "1"
EVENTS_KEY = "boltq:{default}:events"
START_TIMEOUT_S = 30.0
POLL_S = 0.05
PROCESSORS = "fault_processors"

T = TypeVar("T")

#: Written into each test's directory and imported by the worker processes.
PROCESSORS_MODULE = """
    import os
    import time

    import redis
    import trio

    import boltq

    _host, _, _port = os.environ["REDIS_ADDR"].rpartition(":")
    store = redis.Redis(host=_host, port=int(_port), db=int(os.environ.get("REDIS_DB", "0")),
                        decode_responses=True)


    @boltq.processor("count")
    def count(job):
        store.hincrby("runs", job.id, 1)
        return job.worker_id


    @boltq.processor("whoami")
    async def whoami(job):
        store.hincrby("runs", job.id, 1)
        await trio.sleep(job.payload["sleep"])
        return job.worker_id


    @boltq.processor("wait_for_cancel")
    async def wait_for_cancel(job):
        try:
            await trio.sleep(job.payload["sleep"])
        except trio.Cancelled:
            store.hset("cancel_seen", job.id, repr(time.time()))
            raise
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], T], within: float, what: str,
               logs: Callable[[], str] = str) -> T:
    """Poll ``condition`` until it returns something true, or fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g}s: {what}\n{logs()}")
        time.sleep(POLL_S)


class RedisServer:
    """A private redis-server on a free port, appending every write to its AOF."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(exist_ok=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=int(REDIS_DB),
                           decode_responses=True, socket_timeout=5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--logfile", "redis.log"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = self.client()

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
            try:
                return bool(probe.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(answers, 10, f"redis-server on port {self.port} answers PING")
        finally:
            probe.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class BoltQProcess:
    """One ``boltq run --role ROLE`` subprocess, named by its WORKER_ID."""

    def __init__(self, tmp_path: Path, role: str, name: str, env: dict[str, str]) -> None:
        self.role = role
        self.name = name
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("REDIS_", "BOLTQ_", "API_"))
                    and k not in {"WORKER_ID", "NUM_WORKERS", "LEASE_TIMEOUT"}}
        full_env.update({"API_PORT": str(self.port), "LOG_LEVEL": "info",
                         "WORKER_ID": name, **env})
        args = ["--role", role]
        if role == "worker":
            args += ["--import", PROCESSORS]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "boltq", "run", *args], cwd=tmp_path, env=full_env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def log(self) -> str:
        return self.log_path.read_text()

    def is_ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        return "boltq ready" in self.log()

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Cluster:
    """A private Redis and the BoltQ processes of one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        (tmp_path / f"{PROCESSORS}.py").write_text(textwrap.dedent(PROCESSORS_MODULE))
        self.redis = RedisServer(tmp_path / "redis")
        self.redis.start()
        self.db = self.redis.client()
        self.processes: list[BoltQProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return {"REDIS_ADDR": self.redis.addr, "REDIS_DB": REDIS_DB, **extra}

    def start(self, *specs: tuple[str, str], **env: str) -> list[BoltQProcess]:
        """Start processes given as (role, name), all at once, and wait until each is ready."""
        started = [BoltQProcess(self.tmp_path, role, name, self.env(**env))
                   for role, name in specs]
        self.processes += started
        self.wait_ready(*started)
        return started

    def spawn(self, role: str, name: str, **env: str) -> BoltQProcess:
        """Start one process without waiting for it."""
        process = BoltQProcess(self.tmp_path, role, name, self.env(**env))
        self.processes.append(process)
        return process

    def wait_ready(self, *processes: BoltQProcess) -> None:
        for process in processes:
            wait_until(process.is_ready, START_TIMEOUT_S, f"{process.name} is ready", self.logs)

    def logs(self) -> str:
        tails = []
        for process in self.processes:
            lines = process.log().splitlines()[-25:]
            tails.append(f"--- {process.name} ({process.role}), last lines:\n" + "\n".join(lines))
        return "\n".join(tails)

    def wait_until(self, condition: Callable[[], T], within: float, what: str) -> T:
        return wait_until(condition, within, what, self.logs)

    def check(self) -> subprocess.CompletedProcess[str]:
        """``boltq check`` on this cluster's Redis and database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOLTQ_"))}
        env.update(self.env())
        return subprocess.run([sys.executable, "-m", "boltq", "check"], cwd=self.tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)

    def assert_every_job_in_one_place(self) -> None:
        result = self.check()
        assert result.returncode == 0, f"boltq check found breaches:\n{result.stdout}" \
                                       f"{result.stderr}"

    def events(self) -> dict[str, list[str]]:
        """Each job's events, oldest first, read from the stream."""
        events: dict[str, list[str]] = defaultdict(list)
        for _, fields in self.db.xrange(EVENTS_KEY):
            events[fields["job_id"]].append(fields["event"])
        return events

    def close(self) -> None:
        for process in self.processes:
            process.close()
        self.db.close()
        self.redis.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    created = Cluster(tmp_path)
    try:
        yield created
    finally:
        created.close()


def submit(api: BoltQProcess, job_type: str, payload: Any = None, **fields: Any) -> str:
    reply = api.http.post("/api/jobs", json={"type": job_type, "payload": payload, **fields})
    assert reply.status_code == 202, reply.text
    return reply.json()["job_id"]


def stats(api: BoltQProcess) -> dict[str, int]:
    reply = api.http.get("/api/stats")
    assert reply.status_code == 200, reply.text
    return reply.json()


def job(api: BoltQProcess, job_id: str) -> dict[str, Any]:
    reply = api.http.get(f"/api/jobs/{job_id}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def jobs_in(api: BoltQProcess, job_ids: list[str], *statuses: str) -> list[dict[str, Any]]:
    """The jobs, if every one of them has one of ``statuses``; else an empty list."""
    found = []
    for job_id in job_ids:
        current = job(api, job_id)
        if current["status"] not in statuses:
            return []
        found.append(current)
    return found


def test_three_thousand_jobs_through_two_apis_and_three_workers_each_run_exactly_once(
        cluster: Cluster) -> None:
    apis = cluster.start(("api", "api-1"), ("api", "api-2"), ("scheduler", "scheduler"),
                         ("worker", "worker-1"), ("worker", "worker-2"),
                         ("worker", "worker-3"), NUM_WORKERS="8")[:2]
    total, threads = 3000, 4
    submitted: list[list[str]] = [[] for _ in range(threads)]
    refused: list[str] = []

    def submitter(n: int) -> None:
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(httpx.Client(base_url=str(api.http.base_url),
                                                        timeout=10)) for api in apis]
            for i in range(n, total, threads):
                try:
                    reply = clients[i % 2].post("/api/jobs", json={"type": "count",
                                                                   "payload": i})
                except httpx.HTTPError as exc:
                    refused.append(repr(exc))
                    return
                if reply.status_code != 202:
                    refused.append(f"{reply.status_code} {reply.text}")
                    return
                submitted[n].append(reply.json()["job_id"])

    pool = [threading.Thread(target=submitter, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=90)
    assert refused == [], f"a submission was not accepted: {refused}\n{cluster.logs()}"
    job_ids = [job_id for ids in submitted for job_id in ids]
    assert len(set(job_ids)) == total, "every submission was accepted with its own id"

    cluster.wait_until(lambda: stats(apis[0])["processed"] == total, 60,
                       f"all {total} jobs are processed")
    final = stats(apis[1])
    assert (final["published"], final["processed"], final["pending"], final["running"],
            final["failed"], final["stale_writes"]) == (total, total, 0, 0, 0, 0)
    runs = cluster.db.hgetall("runs")
    assert set(runs) == set(job_ids)
    assert Counter(runs.values()) == {"1": total}, "every job ran exactly once"
    for job_id in job_ids[::100]:
        seen = job(apis[0], job_id)
        assert (seen["status"], seen["attempts"]) == ("completed", 1)
        assert seen["worker_id"] in {"worker-1", "worker-2", "worker-3"}
    cluster.assert_every_job_in_one_place()


def kill_worker_holding_jobs(cluster: Cluster, api: BoltQProcess, count: int) -> list[str]:
    """Let worker-1 take ``count`` 1.5 s jobs, start worker-2, then SIGKILL worker-1."""
    (first,) = cluster.start(("worker", "worker-1"), NUM_WORKERS=str(count), LEASE_TIMEOUT="2s")
    job_ids = [submit(api, "test", {"sleep": 1.5}) for _ in range(count)]
    cluster.wait_until(lambda: stats(api)["running"] == count, 5, "worker-1 runs every job")
    second = cluster.spawn("worker", "worker-2", NUM_WORKERS=str(count), LEASE_TIMEOUT="2s")
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=5)
    held = stats(api)
    assert (held["running"], held["processed"]) == (count, 0), \
        "worker-1 died holding every job, before finishing any"
    assert {job(api, job_id)["worker_id"] for job_id in job_ids} == {"worker-1"}
    cluster.wait_ready(second)
    return job_ids


def test_jobs_of_a_worker_killed_mid_run_are_reclaimed_and_finished_by_another_worker(
        cluster: Cluster) -> None:
    api, _ = cluster.start(("api", "api"), ("scheduler", "scheduler"), LEASE_TIMEOUT="2s")
    job_ids = kill_worker_holding_jobs(cluster, api, 20)

    finished = cluster.wait_until(lambda: jobs_in(api, job_ids, "completed", "dead_letter"), 20,
                                  "every job of the killed worker finishes")
    assert {(j["status"], j["worker_id"], j["attempts"]) for j in finished} == {
        ("completed", "worker-2", 2)}
    after = stats(api)
    assert after["reclaimed"] == 20
    assert (after["published"], after["processed"], after["dead_letter"]) == (20, 20, 0)
    assert (after["pending"], after["running"], after["delayed"]) == (0, 0, 0)
    cluster.assert_every_job_in_one_place()


def test_supervisors_ride_out_ten_seconds_without_redis_and_finish_every_accepted_job(
        cluster: Cluster) -> None:
    processes = cluster.start(("api", "api"), ("worker", "worker"), ("scheduler", "scheduler"))
    api = processes[0]
    pids = {p.name: p.pid for p in processes}
    accepted: list[str] = []
    refusals: list[httpx.Response] = []
    others: list[str] = []
    stop = threading.Event()

    def submitter() -> None:
        with httpx.Client(base_url=str(api.http.base_url), timeout=10) as client:
            while not stop.is_set():
                try:
                    reply = client.post("/api/jobs", json={"type": "test",
                                                           "payload": {"sleep": 0.05}})
                except httpx.HTTPError as exc:
                    others.append(repr(exc))
                else:
                    if reply.status_code == 202:
                        accepted.append(reply.json()["job_id"])
                    elif reply.status_code == 503:
                        refusals.append(reply)
                    else:
                        others.append(f"{reply.status_code} {reply.text}")
                time.sleep(0.02)

    thread = threading.Thread(target=submitter)
    thread.start()
    try:
        cluster.wait_until(lambda: len(accepted) >= 20, 10, "jobs are accepted before the outage")
        cluster.redis.stop()
        down_at = time.monotonic()
        time.sleep(0.5)  # a submission already past Redis may still be answering
        accepted_before = len(accepted)

        during = api.http.post("/api/jobs", json={"type": "test"})
        assert during.status_code == 503
        assert during.headers["content-type"].startswith("application/json")
        assert "error" in during.json()
        while time.monotonic() - down_at < 10:
            assert all(p.running() for p in processes), cluster.logs()
            time.sleep(0.2)
        accepted_while_down = len(accepted) - accepted_before
        cluster.redis.start()

        cluster.wait_until(lambda: len(accepted) >= accepted_before + accepted_while_down + 20,
                           15, "submissions are accepted again after Redis returns")
    finally:
        stop.set()
        thread.join(timeout=20)

    assert accepted_while_down == 0, "nothing is accepted while Redis is down"
    assert refusals, "the submitter saw 503 answers during the outage"
    assert all("error" in reply.json() for reply in refusals)
    assert others == [], f"answers other than 202 or 503: {others[:5]}"

    def drained() -> bool:
        now = stats(api)
        return now["pending"] + now["running"] + now["delayed"] == 0

    cluster.wait_until(drained, 30, "the queue drains")
    finished = jobs_in(api, accepted, "completed")
    assert len(finished) == len(accepted), "every accepted job completed"

    assert all(p.running() for p in processes), "no supervisor exited"
    assert {p.name: p.pid for p in processes} == pids

    def registry() -> dict[str, int]:
        reply = api.http.get("/api/workers")
        return {w["id"]: w["pid"] for w in reply.json()["workers"]} \
            if reply.status_code == 200 else {}

    cluster.wait_until(lambda: registry() == pids, 10,
                       f"GET /api/workers lists the same three processes {pids}")
    for process in processes:
        assert process.log().count("boltq ready") == 1, f"{process.name} started once"
    cluster.assert_every_job_in_one_place()


def test_two_schedulers_promote_each_retry_exactly_once(cluster: Cluster) -> None:
    api, *_ = cluster.start(("api", "api"), ("scheduler", "scheduler-1"),
                            ("scheduler", "scheduler-2"), ("worker", "worker"))
    job_ids = [submit(api, "test", {"fail": 1}, max_attempts=3) for _ in range(30)]

    finished = cluster.wait_until(lambda: jobs_in(api, job_ids, "completed", "dead_letter"), 20,
                                  "every failing-once job finishes")
    assert {(j["status"], j["attempts"]) for j in finished} == {("completed", 2)}
    events = cluster.events()
    for job_id in job_ids:
        assert Counter(events[job_id]) == {"created": 1, "started": 2, "retrying": 1,
                                           "pending": 1, "completed": 1}, \
            f"job {job_id}: {events[job_id]}"
    cluster.assert_every_job_in_one_place()


def test_two_schedulers_reclaim_each_job_of_a_killed_worker_exactly_once(
        cluster: Cluster) -> None:
    api, *_ = cluster.start(("api", "api"), ("scheduler", "scheduler-1"),
                            ("scheduler", "scheduler-2"), LEASE_TIMEOUT="2s")
    job_ids = kill_worker_holding_jobs(cluster, api, 20)

    finished = cluster.wait_until(lambda: jobs_in(api, job_ids, "completed", "dead_letter"), 20,
                                  "every job of the killed worker finishes")
    assert {(j["status"], j["worker_id"]) for j in finished} == {("completed", "worker-2")}
    events = cluster.events()
    for job_id in job_ids:
        assert events[job_id].count("reclaimed") == 1, f"job {job_id}: {events[job_id]}"
        assert events[job_id].count("pending") == 1, f"job {job_id}: {events[job_id]}"
    assert stats(api)["reclaimed"] == 20
    cluster.assert_every_job_in_one_place()


def test_a_worker_frozen_past_its_lease_cannot_overwrite_the_rerun_when_it_wakes(
        cluster: Cluster) -> None:
    api, _, frozen = cluster.start(("api", "api"), ("scheduler", "scheduler"),
                                   ("worker", "worker-1"), NUM_WORKERS="5", LEASE_TIMEOUT="2s")
    job_ids = [submit(api, "whoami", {"sleep": 2}) for _ in range(5)]
    # Redis may count a job as running before the worker has read the claim's reply;
    # freeze only once every processor is under way.
    cluster.wait_until(lambda: cluster.db.hlen("runs") == 5, 5, "worker-1 runs every job")
    frozen.signal(signal.SIGSTOP)
    assert stats(api)["processed"] == 0, "worker-1 was frozen before it finished a job"

    cluster.start(("worker", "worker-2"), NUM_WORKERS="5", LEASE_TIMEOUT="2s")
    reruns = cluster.wait_until(lambda: jobs_in(api, job_ids, "completed", "dead_letter"), 20,
                                "worker-2 reruns every job of the frozen worker")
    assert {(j["status"], j["worker_id"], j["result"]) for j in reruns} == {
        ("completed", "worker-2", "worker-2")}
    assert stats(api)["stale_writes"] == 0

    frozen.signal(signal.SIGCONT)
    cluster.wait_until(lambda: stats(api)["stale_writes"] >= 5, 10,
                       "worker-1's late outcomes are refused as stale")
    assert frozen.running()
    for job_id in job_ids:
        final = job(api, job_id)
        assert (final["status"], final["worker_id"], final["result"], final["attempts"]) == (
            "completed", "worker-2", "worker-2", 2)
    after = stats(api)
    assert (after["processed"], after["stale_writes"], after["reclaimed"]) == (5, 5, 5)
    assert cluster.db.hgetall("runs") == dict.fromkeys(job_ids, "2")
    assert "stale write" in frozen.log()
    cluster.assert_every_job_in_one_place()


def test_a_job_cancelled_through_another_api_process_stops_within_two_seconds(
        cluster: Cluster) -> None:
    api_a, api_b, *_ = cluster.start(("api", "api-a"), ("api", "api-b"),
                                     ("scheduler", "scheduler"), ("worker", "worker"))
    job_id = submit(api_a, "wait_for_cancel", {"sleep": 60})
    cluster.wait_until(lambda: job(api_b, job_id)["status"] == "running", 5, "the job runs")

    cancelled_at = time.time()
    reply = api_b.http.post(f"/api/jobs/{job_id}/cancel")
    assert reply.status_code == 200
    assert reply.json() == {"job_id": job_id, "status": "cancelled"}

    seen = cluster.wait_until(lambda: cluster.db.hget("cancel_seen", job_id), 2.5,
                              "the processor sees the cancellation")
    assert float(seen) - cancelled_at < 2.0

    time.sleep(1.5)  # three scheduler ticks: time enough for a wrong retry to show
    final = job(api_a, job_id)
    assert (final["status"], final["attempts"]) == ("cancelled", 1)
    assert cluster.events()[job_id] == ["created", "started", "cancelled"]
    after = stats(api_a)
    assert (after["cancelled"], after["failed"], after["retry"], after["stale_writes"]) == (
        1, 0, 0, 0)
    cluster.assert_every_job_in_one_place()


def test_a_corrupt_record_is_quarantined_and_the_worker_keeps_taking_jobs(
        cluster: Cluster) -> None:
    api, _ = cluster.start(("api", "api"), ("worker", "worker"), NUM_WORKERS="2")
    # a record that is not JSON, first in line: the claim must not trip over it
    cluster.db.hset("boltq:{default}:jobs", "job_corrupt", "{not json")
    cluster.db.zadd("boltq:{default}:pending", {"job_corrupt": 0})
    cluster.db.lpush("boltq:{default}:wake", "1")
    cluster.wait_until(lambda: cluster.db.zscore("boltq:{default}:dead", "job_corrupt")
                       is not None, 5, "the corrupt record is moved to the dead letter set")

    job_id = submit(api, "test", {"result": "ran"})
    cluster.wait_until(lambda: job(api, job_id)["status"] == "completed", 10,
                       "a good job submitted after it still runs")
