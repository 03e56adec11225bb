"""Settings from the environment and ``.env``, and the ``boltq`` command line:
good values are read as documented, every bad one is refused naming the
variable, and the CLI reports start-up problems as one line (exit code 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import boltq
from boltq.config import Settings, load_settings
from boltq.errors import ConfigError

#: Every variable BoltQ reads: the CLI tests start from none of them.
BOLTQ_VARIABLES = (
    "API_HOST", "API_PORT", "REDIS_ADDR", "REDIS_URL", "REDIS_PASSWORD", "REDIS_DB",
    "WORKER_ID", "NUM_WORKERS", "MAX_ATTEMPTS", "LOG_LEVEL", "JOB_STATUS_TTL",
    "SHUTDOWN_TIMEOUT", "RETRY_BACKOFF_BASE", "RETRY_BACKOFF_MAX", "LEASE_TIMEOUT",
    "BOLTQ_IMPORTS",
)

CLI_TIMEOUT_S = 60


def settings(**env: str) -> Settings:
    return load_settings(environ=env, env_file=None)


# -- load_settings ------------------------------------------------------------------


def test_with_nothing_set_every_setting_has_its_documented_default() -> None:
    s = settings()
    assert s.api_port == 8080
    assert s.api_host == "127.0.0.1"
    assert s.num_workers == 4
    assert s.max_attempts == 3
    assert s.job_status_ttl == 604800.0
    assert s.shutdown_timeout == 30.0
    assert s.redis_url is None
    assert s.embedded
    assert s.log_level == "INFO"
    assert s.imports == ()


def test_redis_addr_with_password_and_db_becomes_a_redis_url() -> None:
    s = settings(REDIS_ADDR="cache.internal:6380", REDIS_PASSWORD="s3cret", REDIS_DB="2")
    assert s.redis_url == "redis://:s3cret@cache.internal:6380/2"
    assert not s.embedded


def test_redis_addr_alone_uses_db_0_and_no_password() -> None:
    assert settings(REDIS_ADDR="localhost:6380").redis_url == "redis://localhost:6380/0"


def test_a_redis_password_with_url_characters_is_escaped() -> None:
    s = settings(REDIS_ADDR="h:6380", REDIS_PASSWORD="p@ss:w/rd")
    assert s.redis_url == "redis://:p%40ss%3Aw%2Frd@h:6380/0"


def test_redis_url_wins_over_redis_addr() -> None:
    s = settings(REDIS_URL="redis://primary:6379/5", REDIS_ADDR="other:6380")
    assert s.redis_url == "redis://primary:6379/5"


@pytest.mark.parametrize(("raw", "seconds"), [
    ("1h30m", 5400.0),
    ("168h", 604800.0),
    ("500ms", 0.5),
    ("90", 90.0),
])
def test_job_status_ttl_takes_a_go_style_duration_or_seconds(raw: str, seconds: float) -> None:
    assert settings(JOB_STATUS_TTL=raw).job_status_ttl == seconds


def test_shutdown_timeout_takes_a_duration_and_may_be_zero() -> None:
    assert settings(SHUTDOWN_TIMEOUT="1s").shutdown_timeout == 1.0
    assert settings(SHUTDOWN_TIMEOUT="0s").shutdown_timeout == 0.0


@pytest.mark.parametrize(("raw", "level"), [
    ("warn", "WARNING"), ("WARN", "WARNING"), ("debug", "DEBUG"), ("error", "ERROR"),
])
def test_log_level_names_are_read_case_insensitively(raw: str, level: str) -> None:
    assert settings(LOG_LEVEL=raw).log_level == level


def test_numbers_are_read_with_surrounding_spaces() -> None:
    s = settings(API_PORT=" 9000 ", NUM_WORKERS="16", MAX_ATTEMPTS="100")
    assert (s.api_port, s.num_workers, s.max_attempts) == (9000, 16, 100)


@pytest.mark.parametrize(("variable", "raw"), [
    ("API_PORT", "abc"),
    ("API_PORT", "70000"),
    ("API_PORT", "-1"),
    ("NUM_WORKERS", "0"),
    ("NUM_WORKERS", "zero"),
    ("MAX_ATTEMPTS", "0"),
    ("MAX_ATTEMPTS", "101"),
    ("JOB_STATUS_TTL", "forever"),
    ("JOB_STATUS_TTL", "-5s"),
    ("JOB_STATUS_TTL", "0s"),
    ("SHUTDOWN_TIMEOUT", "-1s"),
    ("LEASE_TIMEOUT", "soon"),
    ("LOG_LEVEL", "loud"),
    ("REDIS_ADDR", "nohost"),
    ("REDIS_ADDR", ":6379"),
    ("REDIS_ADDR", "host:port"),
    ("REDIS_URL", "http://x"),
    ("REDIS_DB", "first"),
])
def test_a_bad_value_is_refused_naming_the_variable(variable: str, raw: str) -> None:
    env = {variable: raw}
    if variable == "REDIS_DB":
        env["REDIS_ADDR"] = "h:6379"
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env, env_file=None)
    assert str(caught.value).startswith(variable)
    assert caught.value.name == variable


@pytest.mark.parametrize(("variable", "raw"), [
    ("JOB_STATUS_TTL", "nan"),
    ("JOB_STATUS_TTL", "inf"),
    ("JOB_STATUS_TTL", "1e400"),
    ("LEASE_TIMEOUT", "nan"),
    ("LEASE_TIMEOUT", "inf"),
    ("RETRY_BACKOFF_BASE", "nan"),
    ("SHUTDOWN_TIMEOUT", "nan"),
])
def test_a_non_finite_duration_is_refused_naming_the_variable(variable: str, raw: str) -> None:
    """float() reads these and NaN slips past the "< 0" check. The store turns
    TTLs and leases into int(seconds * 1000), which raises for NaN and
    infinity, and trio refuses a NaN shutdown grace period."""
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: raw})
    assert str(caught.value).startswith(variable)


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NUM_WORKERS=7\nAPI_PORT=9001\nJOB_STATUS_TTL=2h\n")
    s = load_settings(environ={}, env_file=env_file)
    assert (s.num_workers, s.api_port, s.job_status_ttl) == (7, 9001, 7200.0)


def test_the_process_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NUM_WORKERS=7\nAPI_PORT=9001\nREDIS_ADDR=fromfile:6379\n")
    s = load_settings(environ={"NUM_WORKERS": "2", "REDIS_URL": "redis://fromenv:1/0"},
                      env_file=env_file)
    assert s.num_workers == 2
    assert s.api_port == 9001
    assert s.redis_url == "redis://fromenv:1/0"


def test_a_bad_value_in_the_dotenv_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_ATTEMPTS=lots\n")
    with pytest.raises(ConfigError, match=r"^MAX_ATTEMPTS"):
        load_settings(environ={}, env_file=env_file)


def test_a_missing_dotenv_file_is_not_an_error(tmp_path: Path) -> None:
    s = load_settings(environ={}, env_file=tmp_path / "absent.env")
    assert s.num_workers == 4


# -- the command line -----------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m boltq ARGS`` in an empty directory, with only ``env`` set of
    BoltQ's variables; every call here must exit before serving."""
    environ = {k: v for k, v in os.environ.items() if k not in BOLTQ_VARIABLES}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "boltq", *args],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
        check=False,
    )


def assert_one_line_usage_error(done: subprocess.CompletedProcess[str], prefix: str) -> str:
    """Exit code 2, exactly one line on stderr starting with ``prefix``, no traceback."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def test_version_prints_the_name_and_version(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"boltq {boltq.__version__}"


def test_help_exits_0_and_lists_the_run_command(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout


def test_run_help_lists_workers_port_and_import(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "run", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--workers", "--port", "--import"):
        assert flag in done.stdout


def test_no_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    done = run_cli(tmp_path)
    assert done.returncode == 2
    assert "run" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("variable", "raw"), [
    ("NUM_WORKERS", "zero"),
    ("API_PORT", "70000"),
    ("LOG_LEVEL", "loud"),
    ("REDIS_URL", "http://x"),
])
def test_a_bad_setting_stops_run_with_one_line_naming_it(
    tmp_path: Path, variable: str, raw: str
) -> None:
    done = run_cli(tmp_path, "run", **{variable: raw})
    assert_one_line_usage_error(done, f"boltq: {variable}")


def test_a_bad_setting_in_dotenv_of_the_working_directory_stops_run(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NUM_WORKERS=zero\n")
    done = run_cli(tmp_path, "run")
    assert_one_line_usage_error(done, "boltq: NUM_WORKERS")


def test_an_unimportable_module_stops_run_with_one_line_naming_it(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "run", "--import", "no_such_module_xyz")
    line = assert_one_line_usage_error(done, "boltq: --import")
    assert "no_such_module_xyz" in line


def test_a_module_failing_at_import_stops_run_with_one_line_naming_it(tmp_path: Path) -> None:
    """Modules are imported from the working directory too."""
    (tmp_path / "broken_processors.py").write_text("raise RuntimeError('boom at import')\n")
    done = run_cli(tmp_path, "run", "--import", "broken_processors")
    line = assert_one_line_usage_error(done, "boltq: --import")
    assert "broken_processors" in line
    assert "boom at import" in line


def test_an_unimportable_module_from_boltq_imports_stops_run(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "run", BOLTQ_IMPORTS="no_such_module_xyz")
    line = assert_one_line_usage_error(done, "boltq: --import")
    assert "no_such_module_xyz" in line


@pytest.mark.parametrize(("args", "prefix"), [
    (("--workers", "0"), "boltq: --workers"),
    (("--workers", "-3"), "boltq: --workers"),
    (("--port", "70000"), "boltq: --port"),
])
def test_an_out_of_range_flag_stops_run_with_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], prefix: str
) -> None:
    done = run_cli(tmp_path, "run", *args)
    assert_one_line_usage_error(done, prefix)


def test_a_flag_that_is_not_a_number_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "run", "--workers", "many")
    assert done.returncode == 2
    assert "--workers" in done.stderr
    assert "Traceback" not in done.stderr
