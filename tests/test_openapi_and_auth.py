"""The OpenAPI document stays true to the routes; API_TOKENS guards every
route it lists; schemathesis finds no 5xx and no answer off the schema."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from unittest.mock import Mock

import httpx
import pytest
from trio_websocket import ConnectionRejected, open_websocket_url

from boltq.clock import SystemClock
from boltq.config import load_settings
from boltq.errors import ConfigError
from boltq.job import JobSpec
from boltq.openapi import openapi_document
from boltq.store import Store
from boltq.testing import open_supervisor
from boltq.web import OPEN_PATHS, create_app
from tests.processes import BoltQProcess

TOKEN = "s3cret-token-for-tests-0001"
HTTP_METHODS = {"get", "post", "put", "delete", "patch"}


def documented_operations() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in openapi_document()["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_the_openapi_document_lists_exactly_the_routes_the_app_serves():
    app = create_app(Store(Mock(), SystemClock(), scripts={}), default_max_attempts=3)
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        served |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented_operations()


def concrete(path: str, job_id: str) -> str:
    return path.replace("{job_id}", job_id)


async def test_with_api_tokens_every_route_but_the_probes_refuses_a_request_without_one(
        store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", {"sleep": 3600})])
    async with open_supervisor(store, api_tokens=(TOKEN,)) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        for path, method in sorted(documented_operations()):
            url = concrete(path, job_id)
            body = {"type": "test"} if path == "/api/jobs" and method == "POST" else None
            for headers in ({}, {"Authorization": "Bearer wrong-token-000000000"},
                            {"Authorization": f"Basic {TOKEN}"}):
                answer = await client.request(method, url, json=body, headers=headers)
                if path in OPEN_PATHS:
                    assert answer.status_code == 200
                    continue
                assert answer.status_code == 401, (method, url, answer.text)
                assert answer.json()["field"] == "Authorization"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        stats = await store.stats()
        assert (stats.published, stats.cancelled) == (1, 0)
        assert (await store.get(job_id)).status in ("pending", "running")  # not cancelled

        authorized = {"Authorization": f"Bearer {TOKEN}"}
        for path, method in sorted(documented_operations()):
            if path == "/api/events":
                continue  # a WebSocket: checked below
            body = {"type": "test"} if path.startswith("/api/jobs") and method == "POST" \
                and "{" not in path else None
            if path == "/api/jobs/batch":
                body = {"jobs": [{"type": "test"}]}
            answer = await client.request(method, concrete(path, job_id), json=body,
                                          headers=authorized)
            assert answer.status_code != 401, (method, path, answer.text)
            assert answer.status_code < 500


async def test_the_event_websocket_wants_a_token_in_the_header_or_the_query(store, clock):
    async with open_supervisor(store, api_tokens=(TOKEN,)) as running:
        url = running.base_url.replace("http://", "ws://") + "/api/events"
        with pytest.raises(ConnectionRejected) as refused:
            async with open_websocket_url(url):
                pass
        assert refused.value.status_code == 401
        with pytest.raises(ConnectionRejected):
            async with open_websocket_url(url + "?token=nope-nope-nope-nope"):
                pass
        async with open_websocket_url(url + f"?token={TOKEN}"):
            pass
        async with open_websocket_url(url, extra_headers=[
                ("Authorization", f"Bearer {TOKEN}")]):
            pass


def test_api_tokens_come_from_a_list_or_a_file(tmp_path):
    listed = load_settings({"API_TOKENS": f"{TOKEN}, other-token-0123456789"}, env_file=None)
    assert listed.api_tokens == (TOKEN, "other-token-0123456789")
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# operators\n{TOKEN}\n\nanother-token-0123456789\n")
    from_file = load_settings({"API_TOKENS": str(token_file)}, env_file=None)
    assert from_file.api_tokens == (TOKEN, "another-token-0123456789")
    assert TOKEN not in repr(from_file)
    with pytest.raises(ConfigError, match="API_TOKENS: every token needs at least 16"):
        load_settings({"API_TOKENS": "short"}, env_file=None)


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(tmp_path,
                                                                         private_redis):
    """Fuzzes every documented operation against a live process (WebSocket excluded:
    OpenAPI cannot describe its handshake). On real Redis: the embedded store runs
    its Lua in this machine's Python and would make the fuzzer's big batches slow."""
    server = BoltQProcess(tmp_path, {
        "API_TOKENS": TOKEN, "REDIS_ADDR": f"{private_redis.host}:{private_redis.port}",
        "REDIS_DB": "5"})
    try:
        st = Path(sys.executable).parent / "st"
        result = subprocess.run(
            [str(st), "run", f"http://127.0.0.1:{server.port}/api/openapi.json",
             "-H", f"Authorization: Bearer {TOKEN}", "--exclude-path", "/api/events",
             "--max-examples", "15", "--seed", "1", "--no-color", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    finally:
        server.close()
    assert result.returncode == 0, result.stdout[-4000:]
