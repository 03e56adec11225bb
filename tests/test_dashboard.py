"""The Grafana dashboard in dashboards/boltq.json asks only for metrics BoltQ exports.

A renamed metric would otherwise leave a panel silently empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from boltq.metrics import new_metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "boltq.json"
METRIC_NAME = re.compile(r"\bboltq_[a-z_]+")

#: The series names Prometheus stores for one family of each type.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in _panels(dashboard)
             for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query.get("query", ""))
        elif isinstance(query, str) and variable["type"] == "query":
            exprs.append(query)
    return exprs


def _exported_series() -> set[str]:
    """Series names a fresh registry exposes, as Prometheus would store them."""
    metrics = new_metrics()
    # A labelled metric with no sample yet is exposed by its family name and
    # type only, so series names follow from SERIES_SUFFIXES; one real sample
    # of a counter and of a histogram checks those suffixes against the client.
    metrics.submitted.labels("default", "email").inc()
    metrics.run_time.labels("default", "email").observe(0.2)
    text = generate_latest(metrics.registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    return names


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    used = {name for expr in _expressions(_dashboard()) for name in METRIC_NAME.findall(expr)}
    assert used, "the dashboard queries no BoltQ metric"
    exported = _exported_series()
    assert sorted(used - exported) == []


def test_the_dashboard_is_well_formed() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "boltq"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert target["datasource"] == panel["datasource"]
