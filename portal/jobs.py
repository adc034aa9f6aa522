"""The one way from domain code to Celery: tasks are named, never imported.

Domain code names a task by its dotted path and never imports a tasks module, so tasks can import
the services they call at the top of their file without an import cycle. Tasks take ids, never
secret values.
"""

import importlib

from celery import Task
from django.db import transaction

JobArgument = int | str


def task(name: str) -> Task:
    """The task at a dotted path such as "credentials.keys.tasks.deploy_access_key"."""
    module, _, attribute = name.rpartition(".")
    found = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(found, Task):
        raise LookupError(f"{name} is not a Celery task")
    return found


def enqueue(name: str, *args: JobArgument, countdown: float | None = None) -> None:
    """Send the task to the broker now (the caller is outside a transaction, or is a sweep)."""
    task(name).apply_async(args, countdown=countdown)  # type: ignore[arg-type]  # celery-types omits None, Celery's default


def enqueue_on_commit(name: str, *args: JobArgument) -> None:
    """Send the task once the current transaction commits; nothing is sent if it rolls back.

    Robust: the change has committed by then, and what it owes is already a row (an outbox
    email, a pending deployment) that a beat sweep sends when the broker is back. So a broker
    that is down is logged, and the person's request still gets its answer, not a 500."""
    job = task(name)  # a wrong name fails here, in the caller's test, not after the commit
    transaction.on_commit(lambda: job.apply_async(args), robust=True)
