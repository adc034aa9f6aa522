"""Reads on the hottest paths (the gateway's key lookup, the bearer token's credential facts, the
plain credential read), written with a plain cursor to skip what the ORM and Django add per call."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC datetimes to a plain cursor (the ORM would have converted them).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def autocommit_read(fetch: Callable[[], T]) -> T:
    """Run one autocommit read; if the persistent connection was dropped, reconnect and retry once.

    This stands in for Django's per-request health check (CONN_HEALTH_CHECKS), which would send a
    "SELECT 1" before the read, a second round trip on every request. A lone SELECT outside any
    transaction is safe to run again. (If Django renames the flag, the check simply comes back.)
    """
    connection.health_check_done = True  # type: ignore[attr-defined]  # set by Django, missing from django-stubs
    try:
        return fetch()
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block:
            raise
        connection.close()
        return fetch()
