"""Requests per second of the widget's configuration endpoint against the app's trivial JSON endpoint.

    .venv/bin/python bench/widget_config.py [--clients 8] [--seconds 3] [--rounds 3] [--no-uncached]

The app runs as `make run` serves it (the Procfile's `web` line: gunicorn, 1 worker, 8 threads) on the
embedded default: a fresh SQLite file migrated with `flask db upgrade` and seeded with `demo seed`. The same
load generator (N client threads, each with one keep-alive `http.client` connection) first warms up, then
alternates `GET /api/v1/health` and `GET /api/v1/widget/<key>` (with an allowed `Origin`, as browsers send it)
for a few rounds; the medians and their ratio are reported, with the server's CPU time per request (read
from /proc), which is steadier than the rate on a shared machine. The server is then restarted with
`WIDGET_CONFIG_CACHE_S=0` (a configuration built for every request) and measured the same way.

The helpers here (`app_env`, `flask_cli`, `seed`, `gunicorn`) also serve bench/submit_latency.py and
bench/host_page.py.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT / "tests"))

HOST = "127.0.0.1"


def app_env(instance: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of every app process of one run: its own instance folder, port and public URL."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "WIDGET_CONFIG_CACHE_S", "PROXY_COUNT")}
    env.update(INSTANCE_PATH=instance, PORT=str(port), PUBLIC_URL=f"http://{HOST}:{port}", SECRET_KEY="bench",
               HUEY_SQLITE_PATH=str(Path(instance) / "huey.db"), MAIL_CATCHER_DIR=str(Path(instance) / "maildir"))
    env.update(extra)
    return env


def flask_cli(env: dict[str, str], *args: str) -> str:
    """`flask --app wsgi ARGS` in the project with `env`; its standard output."""
    done = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def app_python(env: dict[str, str], code: str) -> str:
    """Run `code` in an app context of the app `env` describes (a setup step); its standard output."""
    prelude = "from app import create_app\napp = create_app()\nctx = app.app_context()\nctx.push()\n"
    done = subprocess.run([str(VENV_BIN / "python"), "-c", prelude + code], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"setup step failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def seed(env: dict[str, str]) -> dict:
    """Migrate the app's database and seed the demo data; `demo seed --json`'s answer (site_key, ...)."""
    flask_cli(env, "db", "upgrade")
    return json.loads(flask_cli(env, "demo", "seed", "--json").strip().splitlines()[-1])


def web_command(port: int, workers: int | None = None) -> list[str]:
    """The Procfile's `web` line (what `make run` starts) with the port filled in, and maybe more workers."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            command = shlex.split(line.removeprefix("web:").replace("${PORT}", str(port)))
            if workers is not None:
                command[command.index("--workers") + 1] = str(workers)
            return command
    raise RuntimeError("no web: line in the Procfile")


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, log_path: str,
             workers: int | None = None) -> Iterator[subprocess.Popen]:
    """The app served by gunicorn as in the Procfile, until the block ends (terminate and wait)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(web_command(port, workers), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(proc, port, log_path)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc: subprocess.Popen, port: int, log_path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{Path(log_path).read_text()[-3000:]}")


def worker_pid(master: subprocess.Popen) -> int:
    """The gunicorn worker's pid (its one child), whose CPU time is the app's."""
    return worker_pids(master, 1)[0]


def worker_pids(master: subprocess.Popen, count: int) -> list[int]:
    """The pids of gunicorn's `count` workers, once they are all up."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        if len(children) >= count:
            return [int(child) for child in children]
        time.sleep(0.05)
    raise RuntimeError("gunicorn's workers did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_loop(port: int, path: str, headers: dict[str, str], clients: int, seconds: float) -> int:
    """`clients` threads each send GET `path` on one keep-alive connection for `seconds`; the 200s answered."""
    counts = [0] * clients
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            while time.perf_counter() < stop_at:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{path}: {response.status}")
                    return
                counts[number] += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{path}: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return sum(counts)


def measure(port: int, pid: int, site_key: str, args) -> dict:
    """Warm up, then alternate the two endpoints; per endpoint the median rate and CPU ms per request."""
    origin = {"Origin": f"http://{HOST}:{port}"}
    targets = {"health": ("/api/v1/health", {}), "widget": (f"/api/v1/widget/{site_key}", origin)}
    for path, headers in targets.values():
        closed_loop(port, path, headers, args.clients, args.warmup)
    rates: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (path, headers) in targets.items():
            cpu_before, started = cpu_seconds(pid), time.perf_counter()
            count = closed_loop(port, path, headers, args.clients, args.seconds)
            elapsed, cpu_used = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
            rates[name].append(count / elapsed)
            cpu[name].append(1000 * cpu_used / count)
    return {name: (statistics.median(rates[name]), statistics.median(cpu[name])) for name in targets}


def run(tmp: str, args) -> None:
    from servers import free_port

    port = free_port()
    env = app_env(tmp, port)
    site_key = seed(env)["site_key"]
    cases = [("cached", {})] + ([] if args.no_uncached else [("uncached", {"WIDGET_CONFIG_CACHE_S": "0"})])
    print(f"{args.clients} clients, {args.rounds} rounds of {args.seconds:g} s per endpoint "
          f"(medians; CPU = the gunicorn worker's CPU time per request)")
    for name, extra in cases:
        with gunicorn({**env, **extra}, port, f"{tmp}/gunicorn-{name}.log") as master:
            result = measure(port, worker_pid(master), site_key, args)
        (health_rate, health_cpu), (widget_rate, widget_cpu) = result["health"], result["widget"]
        print(f"{name:9} health {health_rate:7.0f}/s ({health_cpu:.2f} ms CPU)   "
              f"widget config {widget_rate:7.0f}/s ({widget_cpu:.2f} ms CPU)   "
              f"ratio {widget_rate / health_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="client threads, one connection each")
    parser.add_argument("--seconds", type=float, default=3, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two endpoints")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of warm-up per endpoint")
    parser.add_argument("--no-uncached", action="store_true", help="skip the WIDGET_CONFIG_CACHE_S=0 run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-widget-") as tmp:
        run(tmp, args)


if __name__ == "__main__":
    main()
