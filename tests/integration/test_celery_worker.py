"""A real Celery worker, in its own process, takes tasks from Redis and writes to PostgreSQL."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.result import EagerResult
from django.conf import settings
from django.db import connection

from portal.celery import app as celery_app
from portal.models import AuditEvent
from portal.tasks import record_worker_heartbeat
from tests.subprocesses import stop

BASE_DIR = Path(settings.BASE_DIR)
CELERY = Path(sys.executable).parent / "celery"


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return "\n".join(self.output().splitlines()[-40:])


def _test_database_url() -> str:
    # The worker must use the database this test sees: pytest-django's test database, not `portico`.
    db = connection.settings_dict
    user, password = quote(db["USER"], safe=""), quote(db["PASSWORD"], safe="")
    return f"postgres://{user}:{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, tmp_path: Path) -> Iterator[Worker]:
    # transactional_db: the worker's connection sees only committed rows, so the test must commit.
    # The worker stays in pytest's process group, so a Ctrl-C stops it too.
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [str(CELERY), "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process, log)
    finally:
        # Warm shutdown first; the worker must be gone before pytest-django flushes the tables
        # and drops the test database it is connected to.
        stop(process, grace=15)


def test_a_celery_worker_runs_a_task_sent_through_redis(celery_worker, monkeypatch):
    # The test process itself runs tasks eagerly (settings_test); this one must go through Redis.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)

    result = record_worker_heartbeat.delay()

    assert not isinstance(result, EagerResult)
    deadline = time.monotonic() + 30
    while True:
        done = AuditEvent.objects.filter(action="worker.heartbeat").exists() and result.id in celery_worker.output()
        if done:
            break
        if celery_worker.process.poll() is not None:
            pytest.fail(f"The Celery worker exited with {celery_worker.process.returncode}:\n{celery_worker.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"No worker.heartbeat audit event after 30 s. Worker log:\n{celery_worker.tail()}")
        time.sleep(0.25)

    event = AuditEvent.objects.get(action="worker.heartbeat")
    assert event.summary == "Celery worker is alive"
    assert event.actor is None
    assert f"Task portal.tasks.record_worker_heartbeat[{result.id}] succeeded" in celery_worker.output()
