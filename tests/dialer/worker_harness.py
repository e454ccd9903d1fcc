"""A harness for tests that run the real worker process (`python -m dialer.main`) beside the test process.

The test process plays the web process (its app enqueues on the shared queue: Huey on an SQLite file, or on
Redis); the worker, a separate process configured only through environment variables, consumes the queue.
Used by `test_worker_process.py` (the outbox) and the dialer's `test_dialer_worker.py` / `test_dialer_faults.py`
(the MTT sandbox and the served app in the test process, the worker dialing it).
"""
from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_redis_dbs = itertools.count()

# The reconciler's thresholds, lowered so a test sees it act in seconds (the web app and the worker get the same).
DIALER_THRESHOLDS = {"DIALER_STUCK_AFTER_S": 2, "DIALER_SETTLE_AFTER_S": 1, "DIALER_EXPIRE_AFTER_S": 600}


@pytest.fixture(name="queue_env")
def queue_env_fixture(queue, tmp_path, request) -> dict[str, str]:
    """`queue_env` (import `queue_env_fixture` to use it): the queue variables shared by the worker and the test
    process; Redis gets a database of its own, flushed."""
    if queue == "sqlite":
        yield {"HUEY_SQLITE_PATH": str(tmp_path / "queue" / "huey.sqlite")}
        return
    import redis

    service = request.getfixturevalue("redis_service")
    url = service.url.rsplit("/", 1)[0] + f"/{1 + next(_redis_dbs) % 15}"  # db 0 is left to other tests
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield {"REDIS_URL": url}
    client.flushdb()
    client.close()


def preserve_huey_state(monkeypatch) -> None:
    """Record the module-level queue state that create_app()/init_app() mutate, so monkeypatch restores it."""
    from dialer import huey_app

    huey = huey_app.huey
    for name in ("storage", "storage_class", "storage_kwargs", "_immediate"):
        monkeypatch.setattr(huey, name, getattr(huey, name))
    monkeypatch.setattr(huey_app, "_bound_app", huey_app._bound_app)


def worker_env(database_url: str, queue_env: dict, tmp_path: Path, mail_port: int, *, public_url: str,
               extra: dict | None = None) -> dict[str, str]:
    """The worker's environment: this process's, less the app's own variables, plus the test's."""
    own = ("DATABASE_URL", "REDIS_URL", "HUEY_", "MAIL_", "PUBLIC_URL", "INSTANCE_PATH", "SECRET_KEY", "PORT",
           "MTT_", "DIALER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update({
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "test-secret",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
        "MAIL_TIMEOUT": "5",
        "PUBLIC_URL": public_url,
        "PYTHONUNBUFFERED": "1",
        **queue_env,
        **{key: str(value) for key, value in (extra or {}).items()},
    })
    return env


class Worker:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the worker exited with {self.proc.returncode}:\n{self.log()}")

    def wait_for_log(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not log {text!r} within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def wait_started(self, timeout: float = 30) -> None:
        """Until the consumer has started (importing the app takes seconds on a busy machine)."""
        try:
            self.wait_for_log("Huey consumer started", timeout)
        except BaseException:
            self.stop()
            raise

    def executions(self, task_name: str) -> int:
        """How many times the worker started the task (Huey logs "Executing [<module>.]<name>: <task id>")."""
        started = re.compile(rf"\bExecuting (?:[\w.]+\.)?{re.escape(task_name)}: ")
        return sum(bool(started.search(line)) for line in self.log().splitlines())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: no shutdown, the tasks it was running are lost."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)


def start_worker(env: dict[str, str], log_path: Path, *args: str, wait: bool = True) -> Worker:
    """`python -m dialer.main <args>`, its output to `log_path`; returns once the consumer has started (or at
    once with `wait=False`: call `wait_started()` before relying on it)."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dialer.main", *args], cwd=PROJECT_ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )
    running = Worker(proc, log_path)
    if wait:
        running.wait_started()
    return running


# ---------------------------------------------------------------------------------------------------------------
# The dialer over real consumers: the app served on loopback (tests/dialer/conftest.py `served_app`) enqueues on
# the shared queue, the MTT sandbox runs in the test process, the workers dial it.


def dialer_app_overrides(sandbox, queue_env: dict, tmp_path: Path) -> dict:
    """The test process's app: the sandbox, a real queue (not immediate), the lowered reconciler thresholds."""
    from telephony.mtt_helpers import mtt_settings

    return {
        **mtt_settings(sandbox),
        "DIALER_DIAL_ON_CREATE": True,
        "HUEY_IMMEDIATE": False,
        "REDIS_URL": queue_env.get("REDIS_URL"),
        "HUEY_SQLITE_PATH": queue_env.get("HUEY_SQLITE_PATH") or str(tmp_path / "unused-huey.sqlite"),
        **DIALER_THRESHOLDS,
    }


@pytest.fixture(name="start_dialer_worker")
def start_dialer_worker_fixture(served_app, sandbox, database_url, queue_env, tmp_path, mailbox):
    """`start_dialer_worker` (import `start_dialer_worker_fixture`), a factory: start a `python -m dialer.main`
    (default `-w 2`, periodic tasks on) dialing the sandbox, its events going to the served app; every worker
    started is stopped at the end and its log printed."""
    from telephony.mtt_helpers import mtt_settings

    extra = {**mtt_settings(sandbox), **DIALER_THRESHOLDS, "WIDGET_CONFIG_CACHE_S": 0}
    env = worker_env(database_url, queue_env, tmp_path, mailbox.port, public_url=served_app.config["PUBLIC_URL"],
                     extra=extra)
    started: list[Worker] = []

    def start(*args: str, wait: bool = True) -> Worker:
        log_path = tmp_path / f"worker-{len(started) + 1}.log"
        running = start_worker(env, log_path, *(args or ("-w", "2")), wait=False)
        started.append(running)
        if wait:
            running.wait_started()
        return running

    yield start
    for number, running in enumerate(started, 1):
        running.stop()
        print(f"--- worker {number} log ({running.log_path}), exit code {running.proc.returncode} ---\n"
              f"{running.log()}")


def dialed_numbers(sandbox) -> Counter:
    """How many times the sandbox was asked to call each visitor (`makeCallBackCallFollowme`'s b_number)."""
    return Counter("+" + str(body.get("params", {}).get("b_number")) for body in list(sandbox.rpc_log)
                   if body.get("method") == "makeCallBackCallFollowme")


def record_asks(sandbox) -> int:
    return sum(body.get("method") == "getCallBackFollowmeCallInfo" for body in list(sandbox.rpc_log))


FINAL = ("completed", "passive", "expired", "rejected")


def wait_final(app, request_ids, workers, *, timeout: float = 30, reconcile: bool = True,
               every: float = 0.5) -> dict:
    """Wait until every request is final in the database; meanwhile (when `reconcile`) run `dialer.reconcile`
    in the test process every `every` s: it enqueues its work (`dialer.attempt_event` sweeps, re-dials of
    requests left with no attempt) for the worker. Returns {request id: (status, outcome)}."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import CallbackRequest
    from dialer.tasks.reconcile import reconcile as reconcile_task

    ids = list(request_ids)
    deadline = time.monotonic() + timeout
    next_run = time.monotonic() + every
    while True:
        with app.app_context():
            rows = {row.id: (row.status, row.outcome) for row in db.session.execute(
                sa.select(CallbackRequest.id, CallbackRequest.status, CallbackRequest.outcome)
                .where(CallbackRequest.id.in_(ids)))}
        if all(rows[i][0] in FINAL for i in ids):
            return rows
        for running in workers:
            running.check_alive()
        if time.monotonic() > deadline:
            logs = "\n".join(running.log()[-6000:] for running in workers)
            pytest.fail(f"requests not final after {timeout}s: {rows}\n{logs}")
        if reconcile and time.monotonic() >= next_run:
            reconcile_task.call_local()
            next_run = time.monotonic() + every
        time.sleep(0.05)
