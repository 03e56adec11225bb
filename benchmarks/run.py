"""Run BoltQ and its peer queues on one private Redis, in one run; print ratios.

    python -m benchmarks.run                      # every queue, the issue's sizes
    python -m benchmarks.run --queues boltq,huey  # a subset
    python -m benchmarks.run --short              # tiny sizes: proves the harness only

Each queue runs in a process of its own (``benchmarks/peers/NAME_bench.py``)
against the same Redis, one after another, on an emptied database. The whole
round runs ``--repeat`` times (queues interleaved, so drift on the machine
weighs on every queue alike), and each figure is the median of its rounds:
a drain of 10,000 jobs lasts well under a second, and single rounds vary by
a tenth or more. Without ``--redis`` a private ``redis-server`` is started
on a free port and stopped at the end. The table shows each queue's figures
and BoltQ's advantage over it (x > 1: BoltQ is better); the JSON holds the
same, every round, and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

QUEUES = ("boltq", "huey", "dramatiq", "taskiq", "saq", "arq", "streaq")
PEER_TIMEOUT_S = 600

#: (figure, unit, True when higher is better)
FIGURES = (
    ("bulk_enqueue_jobs_per_s", "jobs/s", True),
    ("drain_jobs_per_s", "jobs/s", True),
    ("latency_p50_ms", "ms", False),
    ("latency_p99_ms", "ms", False),
    ("idle_rss_mb", "MB", False),
    ("drain_rss_mb", "MB", False),
    ("redis_bytes_per_job", "B", False),
    ("http_batch_enqueue_jobs_per_s", "jobs/s", True),
    ("http_single_post_per_s", "req/s", True),
)

#: BullMQ 6.7 (Node) as published in its benchmark suite's method on a 2-core
#: machine; not run here (no Node queue in a Python harness), shown for scale.
BULLMQ_PUBLISHED = {"bulk_enqueue_jobs_per_s": 12_400, "drain_jobs_per_s": 6_100,
                    "latency_p50_ms": 1.5, "latency_p99_ms": 5.2}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free port, nothing written to disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: install it, or pass --redis URL")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="boltq-bench-") as workdir:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the private redis-server did not start") from None
                    time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(10)


@contextmanager
def given_redis(url: str) -> Iterator[str]:
    """A Redis the caller runs; it must be empty or expendable (it is flushed)."""
    yield url


def run_queue(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One queue's figures, from its own process; an error is reported, not raised."""
    redis.Redis.from_url(url).flushdb()
    command = [sys.executable, "-m", f"benchmarks.peers.{name}_bench", "--redis", url,
               "--jobs", str(args.jobs), "--latency-jobs", str(args.latency_jobs),
               "--latency-gap", str(args.latency_gap)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env,
                              timeout=PEER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"queue": name, "error": f"no answer within {PEER_TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"queue": name, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One queue's rounds as one result: each numeric figure's median; the
    rest (version, method, notes) from the first round. A failed round fails it."""
    for run in runs:
        if "error" in run:
            return run
    merged = dict(runs[0])
    for figure, _, _ in FIGURES:
        values = [run[figure] for run in runs if run.get(figure) is not None]
        merged[figure] = statistics.median(values) if values else None
    return merged


def advantage(boltq: float | None, peer: float | None, higher_is_better: bool) -> float | None:
    """How many times better BoltQ's figure is than the peer's (> 1: BoltQ wins)."""
    if not boltq or not peer:
        return None
    return boltq / peer if higher_is_better else peer / boltq


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    ours = results.get("boltq", {})
    table: dict[str, dict[str, float | None]] = {}
    for name, figures in results.items():
        if name == "boltq" or "error" in figures:
            continue
        table[name] = {figure: advantage(ours.get(figure), figures.get(figure), higher)
                       for figure, _, higher in FIGURES}
    return table


def best_peer(results: dict[str, dict[str, Any]], figure: str,
              higher_is_better: bool) -> tuple[str, float] | None:
    found = [(name, r[figure]) for name, r in results.items()
             if name != "boltq" and r.get(figure)]
    if not found:
        return None
    pick = max if higher_is_better else min
    return pick(found, key=lambda item: item[1])


def targets(results: dict[str, dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """The performance issue's "done when", checked against this run."""
    ours = results.get("boltq", {})
    if "error" in ours or not ours:
        return []
    checks: list[tuple[str, bool | None, str]] = []
    drain = ours["drain_jobs_per_s"]
    best = best_peer(results, "drain_jobs_per_s", True)
    if best:
        checks.append(("drain >= 3x best Python peer", drain >= 3 * best[1],
                       f"{drain:,.0f} vs 3 x {best[1]:,.0f} ({best[0]})"))
    checks.append(("drain >= BullMQ's published 6,100/s",
                   drain >= BULLMQ_PUBLISHED["drain_jobs_per_s"], f"{drain:,.0f}"))
    checks.append(("latency p50 <= 1 ms", ours["latency_p50_ms"] <= 1.0,
                   f"{ours['latency_p50_ms']:.2f} ms"))
    checks.append(("latency p99 <= 3 ms", ours["latency_p99_ms"] <= 3.0,
                   f"{ours['latency_p99_ms']:.2f} ms"))
    http_batch = ours.get("http_batch_enqueue_jobs_per_s") or 0.0
    checks.append(("HTTP batch enqueue >= 10,000 jobs/s", http_batch >= 10_000,
                   f"{http_batch:,.0f}"))
    bulk = ours["bulk_enqueue_jobs_per_s"]
    best = best_peer(results, "bulk_enqueue_jobs_per_s", True)
    if best:
        checks.append(("store bulk enqueue >= 2x best Python peer", bulk >= 2 * best[1],
                       f"{bulk:,.0f} vs 2 x {best[1]:,.0f} ({best[0]})"))
    checks.append(("idle RSS <= 80 MB", ours["idle_rss_mb"] <= 80,
                   f"{ours['idle_rss_mb']:.1f} MB"))
    checks.append(("Redis <= 1 KiB per queued job", ours["redis_bytes_per_job"] <= 1024,
                   f"{ours['redis_bytes_per_job']:.0f} B"))
    return checks


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def render(results: dict[str, dict[str, Any]], short: bool, repeat: int) -> str:
    names = list(results)
    lines = [f"median of {repeat} round(s) per figure", "",
             "figure".ljust(40) + "".join(n.rjust(12) for n in names) + "BullMQ*".rjust(12)]
    for figure, unit, _ in FIGURES:
        row = f"{figure} ({unit})".ljust(40)
        row += "".join(fmt(results[n].get(figure)).rjust(12) for n in names)
        row += fmt(BULLMQ_PUBLISHED.get(figure)).rjust(12)
        lines.append(row)
    lines += ["", "BoltQ's advantage (x > 1: BoltQ better)".ljust(40)
              + "".join(n.rjust(12) for n in names if n != "boltq") + "BullMQ*".rjust(12)]
    table = ratios(results)
    ours = results.get("boltq", {})
    for figure, _, higher in FIGURES:
        row = figure.ljust(40) + "".join(
            (fmt(table[n][figure]) + "x" if table[n][figure] else "-").rjust(12)
            for n in names if n in table)
        reference = advantage(ours.get(figure), BULLMQ_PUBLISHED.get(figure), higher)
        lines.append(row + ((fmt(reference) + "x") if reference else "-").rjust(12))
    lines.append("* BullMQ: published figures, not run here.")
    for name, figures in results.items():
        if "error" in figures:
            lines.append(f"{name}: FAILED: {figures['error']}")
    if not short:
        lines += ["", "targets (performance issue):"]
        lines += [f"  [{'met' if ok else 'MISSED'}] {what}: {detail}"
                  for what, ok, detail in targets(results)]
    return "\n".join(lines)


def machine(url: str) -> dict[str, Any]:
    info = redis.Redis.from_url(url).info("server")
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "redis": info.get("redis_version"),
            "when": datetime.now(UTC).isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", default=",".join(QUEUES),
                        help=f"comma-separated, from {', '.join(QUEUES)}")
    parser.add_argument("--redis", help="redis:// URL of an empty Redis to use (default: "
                                        "start a private redis-server)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--latency-gap", type=float, default=0.005)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each figure is the median of its rounds (default 3)")
    parser.add_argument("--short", action="store_true",
                        help="tiny sizes (jobs 200, latency jobs 20, one round): proves "
                             "the harness")
    parser.add_argument("--out", default="benchmarks/results/latest.json")
    args = parser.parse_args(argv)
    if args.short:
        args.jobs, args.latency_jobs, args.repeat = 200, 20, 1
    if args.repeat < 1:
        parser.error("--repeat: must be at least 1")
    names = [n.strip() for n in args.queues.split(",") if n.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown:
        parser.error(f"--queues: unknown {', '.join(unknown)}; choose from {', '.join(QUEUES)}")

    with given_redis(args.redis) if args.redis else private_redis() as url:
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_number in range(1, args.repeat + 1):
            for name in names:
                print(f"round {round_number}/{args.repeat}: running {name} ...",
                      file=sys.stderr, flush=True)
                rounds[name].append(run_queue(name, url, args))
        about = machine(url)
    results = {name: median_figures(runs) for name, runs in rounds.items()}
    print(render(results, args.short, args.repeat))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": about,
        "scale": {"jobs": args.jobs, "latency_jobs": args.latency_jobs,
                  "latency_gap_s": args.latency_gap, "rounds": args.repeat},
        "results": results, "boltq_advantage": ratios(results), "rounds": rounds,
        "bullmq_published": BULLMQ_PUBLISHED,
        "targets": [{"target": t, "met": ok, "measured": d} for t, ok, d in targets(results)],
    }, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
