"""Roles, the supervisor registry, several schedulers, and ``boltq check``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from boltq.errors import ConfigError
from boltq.invariants import find_breaches
from boltq.job import JobSpec
from boltq.roles import BUILTIN_ROLES, RoleSpec, load_role_file
from boltq.store import Failure, open_store
from boltq.testing import open_supervisor
from tests.helpers import events_of, wait_for_status

SUPERVISORS = Path(__file__).resolve().parent.parent / "supervisors"


@pytest.mark.parametrize("name", sorted(BUILTIN_ROLES))
def test_each_supervisor_spec_file_matches_its_built_in_role(name):
    from_file = load_role_file(SUPERVISORS / f"{name}.toml")
    built_in = BUILTIN_ROLES[name]
    assert (from_file.actors, from_file.workers) == (built_in.actors, built_in.workers)
    assert from_file.queues == ("default",)


@pytest.mark.parametrize(("spec", "complaint"), [
    ('actors = ["api", "bogus"]', "unknown actor 'bogus'"),
    ('actors = ["api"]\nthreads = 4', "unknown setting 'threads'"),
    ("actors = []", "actors must be a non-empty list"),
    ('actors = ["workers"]\nworkers = 0', "workers must be a whole number"),
    ('actors = ["workers"]\nworkers = true', "workers must be a whole number"),
    ('queues = ["a{b}"]', "queues must be a non-empty list"),
    ('queues = ["a", "a"]', "lists a queue twice"),
    ("actors = [", "is not valid TOML"),
])
def test_a_bad_role_spec_is_refused_with_a_message_naming_the_problem(tmp_path, spec, complaint):
    path = tmp_path / "custom.toml"
    path.write_text(spec)
    with pytest.raises(ConfigError) as refused:
        load_role_file(path)
    assert complaint in str(refused.value)


def test_a_missing_role_spec_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_role_file(tmp_path / "nope.toml")


async def test_an_api_only_process_accepts_jobs_and_runs_none(store, clock):
    role = RoleSpec("api", frozenset({"api"}))
    async with open_supervisor(store, role=role) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = (await client.post("/api/jobs", json={"type": "test"})).json()["job_id"]
        await trio.sleep(5)
        assert (await store.get(job_id)).status == "pending"


async def test_a_worker_only_process_has_no_api_and_runs_jobs_of_every_queue_it_serves(
        store, clock):
    other = store.for_queue(f"{store.keys.queue}-other")
    (first,) = await store.enqueue([JobSpec("test", {"result": 1})])
    (second,) = await other.enqueue([JobSpec("test", {"result": 2})])
    role = RoleSpec("worker", frozenset({"workers"}), workers=2,
                    queues=(store.keys.queue, other.keys.queue))
    async with open_supervisor(store, role=role) as running:
        assert running.info.api_urls == ()
        assert (await wait_for_status(store, first, "completed")).result == 1
        assert (await wait_for_status(other, second, "completed")).result == 2


async def test_live_supervisors_are_listed_and_leave_the_list_when_they_stop(store, clock):
    async with open_supervisor(store, worker_id="box-1") as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        listed = (await client.get("/api/workers")).json()["workers"]
        assert [w["id"] for w in listed] == ["box-1"]
        assert listed[0]["role"] == "all-in-one"
        assert listed[0]["queues"] == [store.keys.queue]
        assert listed[0]["pid"] == os.getpid()
        assert {"host", "started_at", "in_flight", "processed", "last_seen"} <= set(listed[0])

        await store.heartbeat("silent-box", {"id": "silent-box", "role": "worker"}, 10)
        ids = [w["id"] for w in (await client.get("/api/workers")).json()["workers"]]
        assert ids == ["box-1", "silent-box"]
        await trio.sleep(11)  # silent-box never heartbeats again
        ids = [w["id"] for w in (await client.get("/api/workers")).json()["workers"]]
        assert ids == ["box-1"]
    assert await store.live_supervisors(10) == []


async def test_two_schedulers_promote_and_reclaim_each_due_job_exactly_once(
        store, redis_url, clock):
    ids = await store.enqueue([JobSpec("test", max_attempts=3) for _ in range(40)])
    claimed = await store.claim("w", 40)
    failing, abandoned = claimed[:20], claimed[20:]
    await store.ack([], [Failure(c.job.id, c.token, "boom") for c in failing])
    role = RoleSpec("scheduler", frozenset({"scheduler"}))
    twin_store = open_store(redis_url, clock=store.clock, queue=store.keys.queue,
                            policy=store.policy)
    async with twin_store as twin, open_supervisor(store, role=role, worker_id="s1"), \
            open_supervisor(twin, role=role, worker_id="s2"):
        await trio.sleep(store.policy.lease_timeout + 5)
    for c in failing:
        assert [e["event"] for e in await events_of(store, c.job.id)].count("pending") == 1
    for c in abandoned:
        kinds = [e["event"] for e in await events_of(store, c.job.id)]
        assert kinds.count("reclaimed") == 1 and kinds.count("pending") == 1
    stats = await store.stats()
    assert (stats.reclaimed, stats.pending) == (20, len(ids))
    assert await find_breaches(store) == []


def run_check(private_redis, db: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env.update(REDIS_ADDR=f"{private_redis.host}:{private_redis.port}", REDIS_DB=str(db))
    return subprocess.run([sys.executable, "-m", "boltq", "check"], env=env, text=True,
                          capture_output=True, timeout=60)


async def test_boltq_check_passes_a_sound_queue_and_names_a_job_in_two_places(
        private_redis, clock):
    url = f"redis://{private_redis.host}:{private_redis.port}/3"
    async with open_store(url) as store:
        await store.client.flushdb()
        (job_id,) = await store.enqueue([JobSpec("test")])
        sound = await trio.to_thread.run_sync(run_check, private_redis, 3)
        assert sound.returncode == 0, sound.stdout + sound.stderr
        assert "OK" in sound.stdout

        await store.client.zadd(store.keys.dead, {job_id: 1})
        await store.client.set(f"{store.keys.jobs.removesuffix('jobs')}stray", "x")
        broken = await trio.to_thread.run_sync(run_check, private_redis, 3)
    assert broken.returncode == 1
    assert f"{job_id}: status pending but found in dead, pending" in broken.stdout
    assert "stray: key the queue does not use" in broken.stdout


def test_a_worker_process_on_real_redis_does_not_load_the_http_stack_or_the_embedded_store():
    # what `boltq run --role worker` imports before it starts: the supervisor,
    # the store and the processors; the rest costs about 25 MB per process
    probe = ("import sys, boltq, boltq.cli, boltq.supervisor, boltq.store, boltq.testing; "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'quart', 'hypercorn', 'werkzeug', 'fakeredis', 'lupa', 'httpx', "
             "'trio_websocket'})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == ""
