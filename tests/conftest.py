"""Fixtures (nouns): real PostgreSQL, Redis and SMTP servers, a migrated database per test, the app, users."""
from __future__ import annotations

import itertools
import os
import tempfile

import pytest

# Before the app is imported: keep the Huey SQLite file and the secret out of the repository's instance folder.
_SESSION_DIR = tempfile.mkdtemp(prefix="callback-tests-")
os.environ.setdefault("INSTANCE_PATH", _SESSION_DIR)
for _name in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "PUBLIC_URL", "PORT"):
    os.environ.pop(_name, None)

from helpers import fresh_database_url  # noqa: E402
from servers import ServerUnavailable, postgres_server, redis_server, smtp_server  # noqa: E402

pytest_plugins = ["yookassa_fixture"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ("sqlite", "postgresql")


def _unavailable(exc: Exception):
    if IN_CI:
        pytest.fail(f"a server the tests need is missing in CI: {exc}")
    pytest.skip(f"server unavailable: {exc}")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("backends"):
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def backend():
    return "sqlite"


@pytest.fixture(scope="session")
def postgres():
    try:
        with postgres_server() as server:
            yield server
    except ServerUnavailable as exc:
        _unavailable(exc)


@pytest.fixture(scope="session")
def redis_service():
    try:
        with redis_server() as server:
            yield server
    except ServerUnavailable as exc:
        _unavailable(exc)


@pytest.fixture(scope="session")
def smtp_service():
    with smtp_server() as server:
        yield server


@pytest.fixture
def mailbox(smtp_service):
    """The SMTP server's received mail, emptied for this test; restarted if a test stopped it."""
    if not smtp_service.running:
        smtp_service.start()
    smtp_service.clear()
    yield smtp_service
    if not smtp_service.running:
        smtp_service.start()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(_overrides(url, _SESSION_DIR))
    with app.app_context():
        upgrade()
        from app.extensions import db

        db.engine.dispose()


def _overrides(url: str, instance: str, **extra) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_PATH": instance,
        "SECRET_KEY": "test-secret",
        "HUEY_IMMEDIATE": True,
        "DIALER_DIAL_ON_CREATE": False,  # only the dialer's tests place calls (tests/dialer)
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 9,  # discard: tests that read mail use the `mailbox` fixture's port
        "MAIL_TIMEOUT": 5,
        "RATELIMIT_STORAGE_URI": "memory://",
        "WIDGET_CONFIG_CACHE_S": 0,  # a test sees its settings change at once; the cache has its own tests
        "API_CALLBACK_RATE_LIMIT": "10000 per minute",
        "API_EVENTS_RATE_LIMIT": "10000 per minute",
        "MAIL_CATCHER_DIR": os.path.join(instance, "maildir"),
        **extra,
    }


@pytest.fixture(scope="session")
def sqlite_template():
    path = os.path.join(_SESSION_DIR, "template.sqlite")
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres):
    postgres.create_database("callback_template")
    _migrate(postgres.url("callback_template"))
    return "callback_template"


@pytest.fixture
def database_url(backend, tmp_path, request):
    return fresh_database_url(backend, tmp_path, request)


@pytest.fixture
def app_overrides():
    """Extra configuration for the `app` fixture; override in a test module or with indirect parametrization."""
    return {}


@pytest.fixture
def app(database_url, backend, tmp_path, mailbox, app_overrides, request):
    """The app on a fresh database; on PostgreSQL with Redis too (the production path), its counters emptied."""
    from app import create_app
    from app.extensions import db

    config = _overrides(database_url, str(tmp_path), MAIL_PORT=mailbox.port)
    if backend == "postgresql":
        config["REDIS_URL"] = request.getfixturevalue("redis_service").url
    config.update(app_overrides)
    app = create_app(config)
    if app.config["REDIS_URL"]:
        import redis

        redis.Redis.from_url(app.config["REDIS_URL"]).flushdb()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client_user(app):
    """Factory: sign up a client account through the service; returns (user id, account id, email, password)."""
    from app.extensions import db
    from app.services import accounts

    counter = itertools.count(1)

    def make(email: str | None = None, password: str = "correct-horse-9", company: str = "Acme LLC"):
        email = email or f"client{next(counter)}@acme.example.com"
        with app.app_context():
            user = accounts.signup(email, password, company)
            db.session.commit()
            return user.id, user.account_id, email, password

    return make


@pytest.fixture
def make_staff_user(app):
    from app.extensions import db
    from app.services import accounts

    def make(role: str, email: str | None = None, password: str = "staff-pass-123"):
        email = email or f"{role}@callback.example.com"
        with app.app_context():
            user = accounts.create_user(email, password, role)
            db.session.commit()
            return user.id, email, password

    return make


@pytest.fixture
def fresh_limits(app):
    """A callable that empties every abuse-limit counter (database and Redis); called once before the test."""
    from app.extensions import db
    from app.services import limits

    def reset() -> None:
        with app.app_context():
            limits.reset()
            db.session.commit()

    reset()
    return reset


@pytest.fixture
def served_app(app):
    """The app served over HTTP on loopback (as gunicorn would: MTT's events reach our hook), PUBLIC_URL there."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    server.server_close()
    thread.join(5)
