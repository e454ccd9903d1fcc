"""The real worker process (`python -m dialer.main`) delivers the outbox over each queue backend and database.

The test process plays the web process: it signs a client up, which writes the welcome notification and, after
commit, enqueues `mail.send_notification` on the shared queue (Huey on an SQLite file, or on Redis). The worker,
a separate process configured only through environment variables, picks the task up and sends the mail to the
`mailbox` SMTP sink.

`create_app` points `dialer.huey_app.huey` at the queue its configuration names (`init_app`), so the test's
app, given the same variables as the worker, enqueues where the worker reads; the module state it changes is
restored afterwards.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time

import pytest
import sqlalchemy as sa
from worker_harness import Worker, preserve_huey_state, queue_env_fixture, start_worker, worker_env  # noqa: F401

from app.db import utcnow
from app.extensions import db
from app.models import Account, Notification

PUBLIC_URL = "http://callback.test"
PASSWORD = "correct-horse-9"

pytestmark = pytest.mark.timeout(90)

# (database backend, queue backend): every pairing; the brief's minimum is sqlite+sqlite and postgresql+redis.
COMBINATIONS = [
    pytest.param("sqlite", "sqlite", id="sqlite-db+sqlite-huey"),
    pytest.param("sqlite", "redis", id="sqlite-db+redis-huey"),
    pytest.param("postgresql", "redis", id="postgresql-db+redis-huey"),
    pytest.param("postgresql", "sqlite", id="postgresql-db+sqlite-huey"),
]


# ---------------------------------------------------------------------------------------------------------------
# Fixtures (`queue_env`, the worker's environment and process: worker_harness.py)


@pytest.fixture
def web_app(database_url, queue_env, tmp_path, mailbox, monkeypatch):
    """The test process's app (the "web process"), enqueueing on the same queue as the worker."""
    from app import create_app
    from dialer import huey_app

    preserve_huey_state(monkeypatch)
    huey = huey_app.huey
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "test-secret",
        "PUBLIC_URL": PUBLIC_URL,
        "HUEY_IMMEDIATE": False,
        "REDIS_URL": queue_env.get("REDIS_URL"),
        "HUEY_SQLITE_PATH": queue_env.get("HUEY_SQLITE_PATH") or str(tmp_path / "unused-huey.sqlite"),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mailbox.port,
        "MAIL_TIMEOUT": 5,
        "RATELIMIT_STORAGE_URI": "memory://",
    })
    assert huey_app._bound_app is app and huey.immediate is False
    assert huey.pending_count() == 0
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker(web_app, database_url, queue_env, tmp_path, mailbox):
    """`python -m dialer.main -w 2` with its own environment; its output goes to tmp_path/worker.log."""
    log_path = tmp_path / "worker.log"
    env = worker_env(database_url, queue_env, tmp_path, mailbox.port, public_url=PUBLIC_URL)
    running = start_worker(env, log_path, "-w", "2")
    try:
        yield running
    finally:
        running.stop()
        print(f"--- worker log ({log_path}), exit code {running.proc.returncode} ---\n{running.log()}")


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _sign_up(app, email: str) -> tuple[int, str]:
    """A client signs up in the "web process"; returns the welcome notification's id and the client ID."""
    from app.services import accounts

    with app.app_context():
        user = accounts.signup(email, PASSWORD, "Acme LLC")
        db.session.commit()  # writes the outbox row; enqueues mail.send_notification after the commit
        account = db.session.get(Account, user.account_id)
        notification_id = db.session.scalar(
            sa.select(Notification.id).where(Notification.dedup_key == f"welcome:{account.id}"))
        assert notification_id is not None
        return notification_id, account.client_code


def _row(app, notification_id: int) -> dict:
    with app.app_context():  # a fresh session: sees what the worker committed
        return db.session.execute(
            sa.select(Notification.status, Notification.attempts, Notification.last_error,
                      Notification.next_attempt_at, Notification.claimed_at, Notification.sent_at)
            .where(Notification.id == notification_id)
        ).one()._asdict()


def _wait_for_row(app, notification_id: int, worker: Worker, predicate, what: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = _row(app, notification_id)
        if predicate(row):
            return row
        worker.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"notification {notification_id} is not {what} after {timeout}s: {row}\n{worker.log()}")
        time.sleep(0.05)


def _wait_for_mail(mailbox, worker: Worker, count: int = 1, timeout: float = 15):
    try:
        return mailbox.wait_for(count, timeout=timeout)
    except AssertionError as exc:
        worker.check_alive()
        pytest.fail(f"{exc}\n--- worker log ---\n{worker.log()}")


def _executions(worker: Worker, task_name: str) -> int:
    """How many times the worker started the task (Huey logs "Executing [<module>.]<name>: <task id>")."""
    started = re.compile(rf"\bExecuting (?:[\w.]+\.)?{re.escape(task_name)}: ")
    return sum(bool(started.search(line)) for line in worker.log().splitlines())


def _assert_no_more_mail(mailbox, count: int, settle: float = 1.0) -> None:
    time.sleep(settle)  # time for a duplicate, if any, to arrive
    assert len(mailbox.messages) == count, [m.subject for m in mailbox.messages]


def _assert_enqueued_without_error(caplog) -> None:
    lost = [r for r in caplog.records if r.name == "app.services.outbox" and r.levelno >= logging.ERROR]
    assert not lost, [r.getMessage() for r in lost]


# ---------------------------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(("backend", "queue"), COMBINATIONS)
def test_worker_sends_the_welcome_mail_enqueued_by_sign_up(web_app, worker, mailbox, caplog, backend, queue):
    started = time.monotonic()
    notification_id, client_code = _sign_up(web_app, "anna@shop.example.com")
    _assert_enqueued_without_error(caplog)

    [mail] = _wait_for_mail(mailbox, worker)
    assert mail.rcpt_tos == ["anna@shop.example.com"]
    assert client_code in mail.subject and client_code in mail.text
    assert mail.message["Message-ID"] == f"<notification-{notification_id}@callback.test>"
    assert mail.message.get_body(("html",)) is not None

    row = _wait_for_row(web_app, notification_id, worker, lambda r: r["status"] == "sent", "sent")
    assert _executions(worker, "mail.send_notification") == 1  # by the task enqueued on commit, not a sweep
    assert row["attempts"] == 1 and row["last_error"] is None
    assert row["sent_at"] is not None and row["claimed_at"] is None
    assert time.monotonic() - started < 15
    _assert_no_more_mail(mailbox, 1)
    worker.check_alive()


@pytest.mark.parametrize("sweep", ["in-test-process", "enqueued-to-worker"])
@pytest.mark.parametrize(("backend", "queue"), COMBINATIONS)
def test_smtp_down_then_up_the_sweep_sends_exactly_once(web_app, worker, mailbox, caplog, backend, queue, sweep):
    from dialer.tasks.mail import retry_due

    mailbox.stop()
    before = utcnow()
    notification_id, client_code = _sign_up(web_app, "boris@shop.example.com")
    _assert_enqueued_without_error(caplog)

    # The worker tries once, fails, and puts the row back with a backoff.
    row = _wait_for_row(web_app, notification_id, worker,
                        lambda r: r["attempts"] == 1 and r["status"] == "pending" and r["last_error"],
                        "pending after one failed attempt")
    after = utcnow()
    assert row["claimed_at"] is None and row["sent_at"] is None
    assert before + dt.timedelta(seconds=30) <= row["next_attempt_at"] <= after + dt.timedelta(seconds=30)
    time.sleep(0.5)
    assert _row(web_app, notification_id)["attempts"] == 1  # no immediate second try

    mailbox.start()
    with web_app.app_context():  # the backoff has passed
        db.session.execute(sa.update(Notification).where(Notification.id == notification_id)
                           .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()

    if sweep == "in-test-process":
        retry_due.call_local()  # in web_app, racing the worker's own sweep: the claim lets one of them send
    else:
        sweeps = _executions(worker, "mail.retry_due")  # the one at the worker's start
        retry_due()  # enqueued: the worker runs the sweep

    [mail] = _wait_for_mail(mailbox, worker)
    assert mail.rcpt_tos == ["boris@shop.example.com"] and client_code in mail.subject
    assert mail.message["Message-ID"] == f"<notification-{notification_id}@callback.test>"
    row = _wait_for_row(web_app, notification_id, worker, lambda r: r["status"] == "sent", "sent")
    assert row["attempts"] == 2 and row["last_error"] is None and row["sent_at"] is not None
    if sweep == "enqueued-to-worker":
        assert _executions(worker, "mail.retry_due") == sweeps + 1
    _assert_no_more_mail(mailbox, 1)
    worker.check_alive()
