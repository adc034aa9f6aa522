"""Helpers of the integration tests that run real processes beside pytest: Celery workers and beat,
gunicorn, an SMTP server on loopback, bounded waits, and the figures a drill reports.

The processes use pytest-django's test database (database_url) and the broker of the
settings; they see only committed rows, so the tests that start them commit
(django_db(transaction=True)).
"""

import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
CELERY = BIN / "celery"
GUNICORN = BIN / "gunicorn"
RESULTS_DIR = BASE_DIR / "test-results"


# --- the SMTP server -------------------------------------------------------------------------------
class Mailbox:
    """An SMTP server on a loopback port, not listening until start(); then it answers "451 try
    later" to the first `refuse_first` messages and accepts the rest."""

    def __init__(self, port: int, refuse_first: int = 0) -> None:
        self.port = port
        self.refuse_first = refuse_first
        self.refused = 0
        self.accepted: list[tuple[str, str]] = []  # (recipient, subject), one per recipient
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.refused < self.refuse_first:
                self.refused += 1
                return "451 4.3.0 Try again later"
            subject = str(message_from_bytes(envelope.content, policy=default_policy)["Subject"])
            self.accepted.extend((recipient, subject) for recipient in envelope.rcpt_tos)
        return "250 Message accepted"

    def received(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.accepted)

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def unused_port() -> int:
    """A loopback port nothing listens on, below Linux's ephemeral range (32768 up), so no outgoing
    connection takes it as its local port while the server is down."""
    first = random.randrange(20000, 30000)
    for port in range(first, first + 2000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"No free port on 127.0.0.1 from {first} to {first + 1999}")


# --- worker, beat and web processes ----------------------------------------------------------------
def database_url() -> str:
    """The DATABASE_URL of the database this test sees (pytest-django's test database), for the
    processes it starts."""
    db = connection.settings_dict
    user, password = quote(db["USER"], safe=""), quote(db["PASSWORD"], safe="")
    return f"postgres://{user}:{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Processes:
    """Processes of one test, each logging to its own file; stopped in the fixture's teardown."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.started: dict[str, tuple[subprocess.Popen, Path]] = {}

    def run(self, name: str, command: list[str]) -> None:
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            # The processes stay in pytest's process group, so a Ctrl-C stops them too.
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started[name] = (process, log)

    def start(self, name: str, *args: str) -> None:
        """A Celery process: `celery -A portal <args>`."""
        self.run(name, [str(CELERY), "-A", "portal", *args, "--loglevel=INFO"])

    def start_web(self, name: str, port: int, *, workers: int = 1) -> str:
        """gunicorn (sync workers) serving portal.wsgi on 127.0.0.1:port; returns its base URL."""
        self.run(
            name,
            [str(GUNICORN), "portal.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"],
        )
        return f"http://127.0.0.1:{port}"

    def log(self, name: str) -> str:
        return self.started[name][1].read_text(errors="replace")

    def worker_logs(self) -> str:
        return "\n".join(self.log(name) for name in self.started if name.startswith("worker"))

    def check_alive(self) -> None:
        for name, (process, _log) in self.started.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return "\n".join(self.log(name).splitlines()[-40:])

    def tails(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.tail(name)}" for name in self.started)

    def stop(self) -> None:
        # Warm shutdown first (a worker finishes its task and puts back what it reserved), then kill.
        for process, _log in self.started.values():
            if process.poll() is None:
                process.terminate()
        for process, _log in self.started.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def wait_for(condition: Callable[[], bool], what: str, deadline: float, processes: Processes) -> None:
    while not condition():
        processes.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"Gave up waiting for {what}. Logs:\n{processes.tails()}")
        time.sleep(0.2)


def wait_for_web(base_url: str, deadline: float, processes: Processes) -> None:
    """Until the web process answers /healthz (its workers booted and loaded Django)."""

    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, f"{base_url} to answer /healthz", deadline, processes)


def succeeded(log: str, task: str) -> list[str]:
    """Return values of the runs of `task` that succeeded, from worker logs."""
    return re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [0-9.e-]+s: (\S+)", log)


# --- figures ---------------------------------------------------------------------------------------
def report(name: str, figures: dict[str, object]) -> dict[str, object]:
    """Append the drill's figures as one JSON line to test-results/<name>.json (for the docs), and
    print them into the pytest log."""
    line = {"drill": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    RESULTS_DIR.mkdir(exist_ok=True)
    with (RESULTS_DIR / f"{name}.json").open("a") as out:
        out.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"drill {name}: {json.dumps(line, sort_keys=True)}")  # noqa: T201 - the figures, also in the pytest log
    return line
