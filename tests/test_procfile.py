"""`Procfile` (make run) and `Procfile.prod` (docs/deploy.md): every command names a program, module, app and
flags that exist, so a renamed module or a dropped option fails here, not at start-up."""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the Makefile exports to honcho for `make run`; Procfile.prod must start with none of its sizing set.
MAKE_RUN_ENV = {"PORT": "5000", "MAIL_PORT": "1025", "MAIL_CATCHER_DIR": "/tmp/callback-test-maildir"}
ENV = {"Procfile": MAKE_RUN_ENV, "Procfile.prod": {}}


def processes(name: str) -> dict[str, str]:
    """`name: command` lines (comments and blank lines skipped), as honcho reads them."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            process, _, command = line.partition(":")
            assert process.strip() not in found, f"{name}: {process} twice"
            found[process.strip()] = command.strip()
    return found


def argv(command: str, env: dict[str, str]) -> list[str]:
    """The words honcho's shell runs (`sh -c`), with the given environment only: `${X:-default}` and all."""
    shell_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    printed = subprocess.run(["sh", "-c", f'printf "%s\\0" {command}'], env=shell_env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    return printed.split("\0")[:-1]


def _run(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path)}  # the app may make a secret: not in the repository
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


FLASK_COMMAND_CHECK = """
import sys, click
from wsgi import app
name, *args = sys.argv[1:]
command = app.cli.get_command(click.Context(app.cli), name)
if command is None:
    sys.exit(f"no flask command {name}")
command.make_context(name, args)
"""


def _flags(args: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("-")]


def check(words: list[str], tmp_path) -> None:
    """Fail unless the command would start what it names with flags its program accepts."""
    program, *args = words
    assert (ROOT / program).is_file() and os.access(ROOT / program, os.X_OK), f"no executable {program}"
    name = Path(program).name
    if name == "gunicorn":
        # --check-config parses every option and imports the app target (wsgi:app), then exits.
        result = _run([program, "--check-config", *args], tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    elif name.startswith("python"):
        assert args[0] == "-m", words
        module, *module_args = args[1:]
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
        # argparse converts the values given before --help (a bad number fails), then prints the options.
        result = _run([program, "-m", module, *module_args, "--help"], tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        for flag in _flags(module_args):
            assert flag in result.stdout, f"{module} has no {flag}"
        if "--class" in module_args:
            path = module_args[module_args.index("--class") + 1]
            owner, _, attribute = path.rpartition(".")
            assert hasattr(importlib.import_module(owner), attribute), f"no class {path}"
    elif name == "flask":
        assert args[:2] == ["--app", "wsgi"], words
        # In a child process (creating the app binds the global Huey object): the app imported as `--app wsgi`
        # does, the command looked up and its arguments parsed and checked (files exist...), nothing run.
        result = _run([str(ROOT / ".venv/bin/python"), "-c", FLASK_COMMAND_CHECK, *args[2:]], tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    else:
        pytest.fail(f"no check for {program}")


CASES = [(name, process) for name in ENV for process in processes(name)]


@pytest.mark.parametrize(("procfile", "process"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_each_command_exists_and_takes_its_flags(procfile, process, tmp_path):
    check(argv(processes(procfile)[process], ENV[procfile]), tmp_path)


@pytest.mark.parametrize("command", [
    ".venv/bin/python -m dialer.mian",                       # a module that does not exist
    ".venv/bin/python -m dialer.main --no-periodical",       # a flag it does not take
    ".venv/bin/python -m dialer.main --workers many",        # a value it refuses
    ".venv/bin/gunicorn --workers 2 wsgi:application",       # an app object that does not exist
    ".venv/bin/flask --app wsgi mtt-sandbox --rules nowhere.json",
    ".venv/bin/flask --app wsgi demo-seed",
    ".venv/bin/honcho start",
])
def test_the_check_fails_a_command_that_cannot_start(command, tmp_path):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check(argv(command, {}), tmp_path)


def test_production_runs_exactly_one_scheduling_consumer():
    prod = {process: argv(command, {}) for process, command in processes("Procfile.prod").items()}
    consumers = {p: words for p, words in prod.items() if words[1:3] == ["-m", "dialer.main"]}
    scheduling = [p for p, words in consumers.items() if "--no-periodic" not in words]
    assert scheduling == ["scheduler"] and "worker" in consumers
    assert "wsgi:app" in prod["web"] and {"--workers", "--threads"} <= set(prod["web"])
    header = (ROOT / "Procfile.prod").read_text()
    for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_URL", "MTT_API_URL", "YOOKASSA_SHOP_ID",
                     "MAIL_SERVER"):
        assert variable in header


def test_make_run_starts_the_periodic_consumer_once():
    run = {process: argv(command, MAKE_RUN_ENV) for process, command in processes("Procfile").items()}
    consumers = [words for words in run.values() if words[1:3] == ["-m", "dialer.main"]]
    assert len(consumers) == 1 and "--no-periodic" not in consumers[0]
