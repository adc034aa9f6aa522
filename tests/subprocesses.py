"""Servers the tests start as processes (nginx, the OpenID Provider, a Celery worker): free
loopback ports for them, the wait until nginx listens, and the stop."""

import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest


def free_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on, all distinct (held open together while they are picked)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def wait_for_port(port: int, process: subprocess.Popen, error_log: Path) -> None:
    """Until nginx listens on 127.0.0.1:port; fails with its error log if it exits or never does."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}:\n{error_log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on 127.0.0.1:{port}:\n{error_log.read_text(errors='replace')}")


def stop(process: subprocess.Popen, *, grace: float = 10) -> None:
    """TERM, then KILL if it has not exited within `grace` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
