"""The benchmark harness works: every queue runs and the report has every figure.

Short mode only (a few hundred jobs); no figure is judged here, since
timings belong in ``benchmarks/``, not in assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import FIGURES, QUEUES, median_figures

ROOT = Path(__file__).resolve().parent.parent
QUEUE_FIGURES = [name for name, _, _ in FIGURES if not name.startswith("http_")]


@pytest.mark.timeout(300)
def test_one_short_run_measures_every_queue_and_prints_boltqs_ratios(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--short", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    results = report["results"]
    assert list(results) == list(QUEUES)
    for name, figures in results.items():
        assert "error" not in figures, f"{name}: {figures.get('error')}"
        missing = [f for f in QUEUE_FIGURES if figures.get(f) is None]
        assert missing == [], f"{name} has no {missing}"
        # a few hundred jobs can leave Redis's memory growth lost in its noise
        assert all(figures[f] > 0 for f in QUEUE_FIGURES if f != "redis_bytes_per_job")
    assert results["boltq"]["http_batch_enqueue_jobs_per_s"] > 0
    assert results["boltq"]["http_single_post_per_s"] > 0
    assert set(report["boltq_advantage"]) == set(QUEUES) - {"boltq"}
    assert all(ratios["drain_jobs_per_s"] > 0 for ratios in report["boltq_advantage"].values())
    assert "BoltQ's advantage" in done.stdout
    assert report["machine"]["redis"]


def test_an_unknown_queue_is_a_usage_error_not_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--queues", "boltq,celeryx"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--queues: unknown celeryx" in done.stderr
    assert "Traceback" not in done.stderr


def test_rounds_are_merged_figure_by_figure_into_their_medians() -> None:
    rounds = [{"queue": "q", "version": "1", "drain_jobs_per_s": value,
               "latency_p50_ms": latency, "idle_rss_mb": None}
              for value, latency in ((100.0, 3.0), (300.0, 1.0), (200.0, 2.0))]
    merged = median_figures(rounds)
    assert (merged["drain_jobs_per_s"], merged["latency_p50_ms"]) == (200.0, 2.0)
    assert merged["idle_rss_mb"] is None and merged["version"] == "1"
    failed = {"queue": "q", "error": "exit 1: boom"}
    assert median_figures([*rounds, failed]) == failed
