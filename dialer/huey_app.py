"""The Huey object, chosen by configuration: Redis when REDIS_URL is set, else an SQLite file."""
from __future__ import annotations

import functools
import os

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

_bound_app = None

# Registered tasks live on this one object; its storage is chosen by `init_app` from the app's configuration
# (until then it is an in-memory queue, so importing the module touches no file and no server).
huey = Huey("callback", results=False, utc=True, store_intermediate_errors=False, immediate=True)


def storage_for(config: dict) -> tuple[type, dict]:
    """Redis when REDIS_URL is set, else an SQLite file: the storage class and its arguments."""
    if config["REDIS_URL"]:
        return RedisStorage, {"url": config["REDIS_URL"]}
    os.makedirs(os.path.dirname(config["HUEY_SQLITE_PATH"]), exist_ok=True)
    return SqliteStorage, {"filename": config["HUEY_SQLITE_PATH"]}


def init_app(app) -> None:
    """Point the queue at the app's storage; tasks then run in this app (one app per process)."""
    global _bound_app
    _bound_app = app
    huey.storage_class, huey.storage_kwargs = storage_for(app.config)
    huey.immediate = bool(app.config["HUEY_IMMEDIATE"])
    huey.storage = huey.create_storage()


def _app():
    global _bound_app
    if _bound_app is None:
        from app import create_app

        init_app(create_app())
    return _bound_app


def _in_app_context(fn, name: str):
    """Each task run gets a fresh app context (and so its own database session), closed afterwards."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        from app.extensions import db
        from app.services.audit import acting_as

        with _app().app_context(), acting_as(f"task:{name}"):
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    return run


def _named(fn, name: str):
    """Huey registers a task as `<__module__>.<name>`: split ours so the registered name is exactly `name`,
    independent of the module the function lives in (queued tasks survive a move of the code)."""
    wrapped = _in_app_context(fn, name)
    wrapped.__module__, _, short = name.rpartition(".")
    return wrapped, short


def task(name: str, **options):
    """`@task("mail.send_notification")`: a Huey task with a stable name, run in an app context."""
    def decorate(fn):
        wrapped, short = _named(fn, name)
        return huey.task(name=short, **options)(wrapped)
    return decorate


def periodic_task(name: str, schedule, **options):
    def decorate(fn):
        wrapped, short = _named(fn, name)
        return huey.periodic_task(schedule, name=short, **options)(wrapped)
    return decorate
