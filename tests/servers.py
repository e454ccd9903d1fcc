"""Throwaway real servers for tests: PostgreSQL, Redis and an SMTP sink.

Plain helpers (no pytest dependency); conftest fixtures wrap them. Every
server listens on 127.0.0.1 on a free port and lives in a temporary directory
that is removed on exit. Nothing here touches system-wide services.

    with postgres_server() as pg:
        pg.create_database("app_test")
        url = pg.url("app_test")  # postgresql+psycopg://USER@127.0.0.1:PORT/app_test

    with redis_server() as rs:
        rs.url                    # redis://127.0.0.1:PORT/0
        rs.restart()              # stop + start on the same port

    with smtp_server() as smtp:
        ...send mail to smtp.host:smtp.port...
        msgs = smtp.wait_for(1)
        msgs[0].message["Subject"]
        smtp.stop(); smtp.start()  # simulate SMTP down / up, same port
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import getpass
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

__all__ = [
    "ServerUnavailable",
    "free_port",
    "PostgresServer",
    "postgres_server",
    "RedisServer",
    "redis_server",
    "ReceivedMessage",
    "SMTPServer",
    "smtp_server",
]

LOOPBACK = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """A server binary (or the Python package to talk to it) is missing,
    or the server could not be started."""


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _wait_port_closed(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex((LOOPBACK, port)) != 0:
                return
        time.sleep(0.05)


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

_PG_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found; "
    "run `sudo bash scripts/install-system-deps` (Debian: postgresql)."
)


def _pg_bindir() -> str:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            if out:
                candidates.append(out)
        except (OSError, subprocess.CalledProcessError):
            pass

    def _version_key(path: str):
        ver = os.path.basename(os.path.dirname(path))
        try:
            return (1, float(ver))
        except ValueError:
            return (0, 0.0)

    candidates.extend(
        sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    for bindir in candidates:
        if all(
            os.access(os.path.join(bindir, exe), os.X_OK)
            for exe in ("initdb", "pg_ctl", "postgres")
        ):
            return bindir
    raise ServerUnavailable(_PG_INSTALL_HINT)


@dataclass
class PostgresServer:
    port: int
    user: str
    datadir: str
    bindir: str
    host: str = LOOPBACK

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL for database `dbname` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq/psycopg conninfo string for database `dbname`."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def connect(self, dbname: str = "postgres", autocommit: bool = True):
        """Open a psycopg 3 connection (caller closes it)."""
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover
            raise ServerUnavailable("the `psycopg` package is not installed") from exc
        return psycopg.connect(self.conninfo(dbname), autocommit=autocommit)

    def create_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop `name` if it exists, terminating any open connections to it."""
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def _pg_run(cmd: list[str], as_postgres: bool, cwd: str) -> subprocess.CompletedProcess:
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(
        cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


def _read(path: str, limit: int = 4000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1:<free port>.

    As root, the cluster runs as the `postgres` OS user (PostgreSQL refuses
    to run as root); otherwise as the current user. Auth is `trust`.
    """
    bindir = _pg_bindir()
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable(
                "running as root but there is no `postgres` OS user to run "
                "PostgreSQL as; " + _PG_INSTALL_HINT
            ) from exc
        if shutil.which("runuser") is None:
            raise ServerUnavailable("running as root but `runuser` is not available")
        user = "postgres"
    else:
        user = getpass.getuser()

    # As root the dir must be traversable by `postgres`: use /tmp, not $TMPDIR.
    datadir = tempfile.mkdtemp(prefix="test-pg-", dir="/tmp" if as_root else None)
    started = False
    try:
        if as_root:
            os.chown(datadir, pw.pw_uid, pw.pw_gid)
        os.chmod(datadir, 0o700)
        initdb = _pg_run(
            [
                os.path.join(bindir, "initdb"),
                "-D", datadir,
                "-A", "trust",
                "-U", user,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            as_root,
            datadir,
        )
        if initdb.returncode != 0:
            raise ServerUnavailable(
                f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}"
            )

        pg_ctl = os.path.join(bindir, "pg_ctl")
        logfile = os.path.join(datadir, "log")
        last_error = ""
        for _attempt in range(3):  # retry on the rare free-port race
            port = free_port()
            opts = (
                f"-h {LOOPBACK} -p {port} -k {datadir} -F "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            res = _pg_run(
                [pg_ctl, "-w", "-t", "60", "-D", datadir, "-o", opts, "-l", logfile, "start"],
                as_root,
                datadir,
            )
            if res.returncode == 0:
                started = True
                break
            last_error = f"{res.stdout}\n{res.stderr}\n--- log ---\n{_read(logfile)}"
            # make sure a half-started server is gone before retrying
            _pg_run([pg_ctl, "-D", datadir, "-m", "immediate", "stop"], as_root, datadir)
        if not started:
            raise ServerUnavailable(f"PostgreSQL failed to start:\n{last_error}")

        yield PostgresServer(port=port, user=user, datadir=datadir, bindir=bindir)
    finally:
        if started:
            _pg_run(
                [os.path.join(bindir, "pg_ctl"), "-D", datadir, "-m", "immediate", "-w", "stop"],
                as_root,
                datadir,
            )
        shutil.rmtree(datadir, ignore_errors=True)


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


def _redis_binary() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    raise ServerUnavailable(
        "redis-server not found; run `sudo bash scripts/install-system-deps` "
        "(Debian: redis-server)."
    )


class RedisServer:
    """A redis-server subprocess on 127.0.0.1. `restart()` keeps the port."""

    host = LOOPBACK

    def __init__(self, binary: str, port: int, workdir: str):
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def logfile(self) -> str:
        return os.path.join(self.workdir, "redis.log")

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        try:
            import redis
        except ImportError as exc:  # pragma: no cover
            raise ServerUnavailable("the `redis` Python package is not installed") from exc

        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind", LOOPBACK,
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", self.workdir,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        client = redis.Redis(
            host=self.host, port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise ServerUnavailable(
                        f"redis-server exited with {self.proc.returncode}:\n{_read(self.logfile)}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerUnavailable(
                        f"redis-server did not answer PING within {timeout}s:\n"
                        f"{_read(self.logfile)}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        _wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a throwaway redis-server on 127.0.0.1:<free port> (no persistence)."""
    binary = _redis_binary()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    server: RedisServer | None = None
    try:
        last_exc: Exception | None = None
        for _attempt in range(3):  # retry on the rare free-port race
            server = RedisServer(binary, free_port(), workdir)
            try:
                server.start()
                break
            except ServerUnavailable as exc:
                last_exc = exc
                server.stop()
                server = None
        if server is None:
            assert last_exc is not None
            raise last_exc
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# SMTP sink
# --------------------------------------------------------------------------


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = field(repr=False)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The text/plain body (falls back to text/html), or ''."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


class _SinkHandler:
    def __init__(self, sink: SMTPServer):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content
        if isinstance(raw, str):  # only if decode_data=True
            raw = raw.encode("utf-8")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.sink._add(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=msg,
                raw=raw,
            )
        )
        return "250 Message accepted for delivery"


class SMTPServer:
    """aiosmtpd sink on 127.0.0.1. `stop()`/`start()` keep the port."""

    host = LOOPBACK

    def __init__(self, port: int):
        self.port = port
        self.messages: list[ReceivedMessage] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._controller = None

    def _add(self, item: ReceivedMessage) -> None:
        with self._cond:
            self.messages.append(item)
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover
            raise ServerUnavailable("the `aiosmtpd` package is not installed") from exc
        controller = Controller(_SinkHandler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            _wait_port_closed(self.port)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedMessage]:
        """Wait until at least `count` messages arrived; return a copy of all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected at least {count} SMTP message(s) within {timeout}s, "
                        f"got {len(self.messages)}"
                    )
                self._cond.wait(min(remaining, 0.1))
            return list(self.messages)


@contextlib.contextmanager
def smtp_server() -> Iterator[SMTPServer]:
    """Start an SMTP sink on 127.0.0.1:<free port> collecting every message."""
    server = SMTPServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
