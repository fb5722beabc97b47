"""Failed-login counters shared by every gunicorn worker through Redis; logins while Redis is down;
production refusing per-process counters.

A "worker" here is an app instance in a process of its own, as in gunicorn: two instances in one
process would share Flask-Limiter's storage whatever the URL, since it lives on the process-wide
extension object. Redis is 127.0.0.1:6379; each test counts under a key prefix of its own and
deletes its keys afterwards. Without Redis the tests that need it skip, unless
JIAYI_REQUIRE_REDIS=1 (CI), where they fail.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from backend.config import ConfigError, load_settings
from tests.conftest import ENV
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/api/v1/auth/staff/login"
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 14
LIMIT = 5
GUNICORN_LIMIT = 10  # even: the failures go in pairs
LIMITS = {"JIAYI_LOGIN_RATE_LIMIT": f"{LIMIT} per 5 minutes", "JIAYI_LOGIN_IP_RATE_LIMIT": "1000 per 5 minutes"}


@dataclass
class RedisCounters:
    """The settings that send a test's counters to Redis, under a prefix no other test uses."""

    env: dict
    client: redis.Redis
    prefix: str

    def keys(self) -> list[bytes]:
        return list(self.client.scan_iter(match=f"*{self.prefix}*"))


@pytest.fixture
def shared_counters():
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("JIAYI_REQUIRE_REDIS") == "1":
            pytest.fail(f"JIAYI_REQUIRE_REDIS=1 but no Redis answers on {REDIS_HOST}:{REDIS_PORT}")
        pytest.skip(f"no Redis on {REDIS_HOST}:{REDIS_PORT} (.ci/run starts one)")
    prefix = f"jiayi-test-{uuid.uuid4().hex}"
    counters = RedisCounters({"JIAYI_RATELIMIT_STORAGE_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
                              "JIAYI_RATELIMIT_KEY_PREFIX": prefix}, client, prefix)
    yield counters
    for key in counters.keys():
        client.delete(key)
    client.close()


def free_port() -> int:
    """A loopback port nobody listens on (once closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WORKER = """
import json, sys
from backend import create_app

client = create_app({"JIAYI_FAST_PASSWORD_HASH": True}).test_client()
print("ready", flush=True)
for line in sys.stdin:
    response = client.post("%s", json=json.loads(line))
    print(json.dumps([response.status_code, response.get_json()]), flush=True)
""" % LOGIN


class Worker:
    """``create_app()`` in a Python process of its own, taking logins over stdin."""

    def __init__(self, env: dict):
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, text=True,
                                        env={**os.environ, **ENV, **LIMITS, **env},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ready = False

    def wait_until_ready(self) -> None:
        if not self.ready:
            assert self._answer(90) == "ready"  # a loaded CI machine takes long to import the app
            self.ready = True

    def _answer(self, seconds: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        line = self.process.stdout.readline() if ready else ""
        assert line, "the worker did not answer (its stderr is in the captured output)"
        return line.strip()

    def login(self, username: str, password: str) -> tuple[int, dict]:
        self.wait_until_ready()
        self.process.stdin.write(json.dumps({"username": username, "password": password}) + "\n")
        self.process.stdin.flush()
        status, body = json.loads(self._answer(60))
        return status, body

    def close_stdin(self) -> None:
        self.process.stdin.close()

    def wait_for_exit(self) -> None:
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_worker():
    started: list[Worker] = []

    def start(env: dict) -> Worker:
        started.append(Worker(env))
        return started[-1]

    yield start
    for worker in started:
        worker.close_stdin()  # all at once: each then exits while the others do
    for worker in started:
        worker.wait_for_exit()


def fail_spread_over(workers: list[Worker], times: int) -> None:
    for n in range(times):
        status, body = workers[n % len(workers)].login("doctor-a", "wrong-password")
        assert status == 401, (n, body)


# Two workers, one counter


def test_failures_spread_over_two_workers_reach_the_limit_together_with_redis(county, shared_counters, start_worker):
    first, second = start_worker(shared_counters.env), start_worker(shared_counters.env)
    fail_spread_over([first, second], LIMIT)  # three on the first, two on the second
    assert shared_counters.keys()  # the counts are in Redis, not in either process
    for worker in (first, second):
        status, body = worker.login("doctor-a", PASSWORD)
        assert status == 429 and body["code"] == "too_many_attempts"


def test_with_memory_storage_each_worker_counts_only_its_own_failures(county, start_worker):
    first, second = (start_worker({"JIAYI_RATELIMIT_STORAGE_URL": "memory://"}) for _ in range(2))
    fail_spread_over([first, second], LIMIT)
    # What shared counters prevent: neither worker has seen the limit yet.
    assert first.login("doctor-a", PASSWORD)[0] == 200
    assert second.login("doctor-a", PASSWORD)[0] == 200


# A real gunicorn


@dataclass
class Served:
    url: str
    access_log: Path

    def answered(self, path: str) -> list[tuple[str, str]]:
        """(worker pid, status) of each request to ``path`` so far, from the access log."""
        text = self.access_log.read_text() if self.access_log.exists() else ""
        lines = (re.fullmatch(r"<(\d+)> \S+ (\S+) (\d+)", line) for line in text.splitlines())
        return [(line[1], line[3]) for line in lines if line and line[2] == path]


def together(send, times: int) -> list:
    """``send()`` from ``times`` threads at once: with every worker busy, each takes one."""
    barrier = threading.Barrier(times)

    def one(_):
        barrier.wait()
        return send()

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(one, range(times)))


@pytest.fixture
def gunicorn(county, shared_counters, tmp_path):
    """gunicorn with two workers on the test database, logging which worker answered each request;
    ready once both workers have answered."""
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}", tmp_path / "access.log")
    errors = open(tmp_path / "gunicorn.err", "w")
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile",
         str(served.access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "wsgi:app"],
        cwd=ROOT, env={**os.environ, **ENV, **LIMITS, "JIAYI_LOGIN_RATE_LIMIT": f"{GUNICORN_LIMIT} per 5 minutes",
                       **shared_counters.env},
        stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # a loaded CI machine takes long to import the app twice
        while len({pid for pid, _ in served.answered("/healthz")}) < 2:
            assert process.poll() is None, (tmp_path / "gunicorn.err").read_text()
            assert time.monotonic() < deadline, "gunicorn's two workers did not both start"
            try:
                together(lambda: requests.get(served.url + "/healthz", timeout=10), 2)
            except requests.RequestException:
                time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        errors.close()


def test_gunicorn_with_two_workers_answers_429_at_the_limit_over_fresh_connections(gunicorn):
    def attempt(password: str = "wrong-password") -> requests.Response:
        # No session: each attempt opens a connection of its own, which either worker may take.
        return requests.post(gunicorn.url + LOGIN, json={"username": "doctor-a", "password": password},
                             timeout=30)

    failures = [r.status_code for _ in range(GUNICORN_LIMIT // 2) for r in together(attempt, 2)]
    assert failures == [401] * GUNICORN_LIMIT
    assert [attempt().status_code for _ in range(3)] == [429] * 3
    last = attempt(PASSWORD)
    assert last.status_code == 429 and last.json()["code"] == "too_many_attempts"

    deadline = time.monotonic() + 10  # a worker writes its access line just after answering
    while len(gunicorn.answered(LOGIN)) < GUNICORN_LIMIT + 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    failures_by_worker = Counter(pid for pid, status in gunicorn.answered(LOGIN) if status == "401")
    # Both workers took failures, and the limit still came at their sum: the count is shared.
    assert len(failures_by_worker) == 2 and sum(failures_by_worker.values()) == GUNICORN_LIMIT, failures_by_worker


# Redis down


@pytest.fixture
def redis_down() -> dict:
    return {"JIAYI_RATELIMIT_STORAGE_URL": f"redis://127.0.0.1:{free_port()}/0"}


def test_with_redis_down_a_login_still_succeeds(county, redis_down, start_worker):
    status, body = start_worker(redis_down).login("doctor-a", PASSWORD)
    assert status == 200 and body["access_token"]


def test_with_redis_down_each_worker_still_limits_failures_in_its_own_memory(county, redis_down, start_worker):
    worker = start_worker(redis_down)
    fail_spread_over([worker], LIMIT)
    status, body = worker.login("doctor-a", PASSWORD)
    assert (status, body) == (429, {"code": "too_many_attempts", "message": "尝试次数过多，请稍后再试"})


@pytest.fixture
def silent_redis():
    """A port that accepts connections and never answers, as a hung or firewalled Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield {"JIAYI_RATELIMIT_STORAGE_URL": f"redis://127.0.0.1:{listener.getsockname()[1]}/0"}


def test_a_redis_that_never_answers_costs_a_login_about_a_second(county, silent_redis, start_worker):
    worker = start_worker(silent_redis)
    worker.wait_until_ready()
    started = time.monotonic()
    assert worker.login("doctor-a", PASSWORD)[0] == 200
    assert time.monotonic() - started < 5  # with redis-py's defaults: 10 s (5 s, then 5 s for the check)


# Production


PRODUCTION = {**ENV, "JIAYI_ENV": "production"}


@pytest.mark.parametrize("storage_url", [None, "memory://"])
def test_production_refuses_to_start_with_login_counters_per_process(tmp_path, storage_url):
    env = dict(PRODUCTION, **({"JIAYI_RATELIMIT_STORAGE_URL": storage_url} if storage_url else {}))
    with pytest.raises(ConfigError, match="JIAYI_RATELIMIT_STORAGE_URL"):
        load_settings(tmp_path, env)


def test_production_starts_with_login_counters_in_redis(tmp_path):
    settings = load_settings(tmp_path, {**PRODUCTION, "JIAYI_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0"})
    assert settings.ratelimit_storage_url == "redis://127.0.0.1:6379/0"
