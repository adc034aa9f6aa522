"""Reads on the hottest paths (the gateway's key lookup, the bearer token's credential facts, the
plain credential read), written with a plain cursor to skip what the ORM and Django add per call.

On PostgreSQL each of them is a prepared statement of the connection: they are sent with
server-side binding, and psycopg prepares such a query the second time it runs on a connection
(`prepare_threshold`, set in portal/settings.py; PORTICO_DB_PREPARED_STATEMENTS=false turns it off)
and keeps it while the connection lives. So the server plans it once, not on every request:
planning the joins cost more than running them, 0.4 ms of planning against 0.08 ms of execution
for the plain credential read. Django's own cursors bind on the client and are never prepared.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

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


def fetch_one(sql: str, params: Sequence[Any]) -> tuple | None:
    """The first row of one hot read (`sql` with %s placeholders), run by autocommit_read: a
    prepared statement on PostgreSQL (above), a plain cursor elsewhere."""
    return autocommit_read(lambda: _first_row(sql, params))


def _first_row(sql: str, params: Sequence[Any]) -> tuple | None:
    with server_bound_cursor() if connection.vendor == "postgresql" else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def server_bound_cursor() -> CursorWrapper:
    """A cursor on Django's PostgreSQL connection that sends its parameters apart from the query
    (server-side binding): psycopg then prepares a query it has seen five times, and `%b` sends a
    parameter in binary. Django's own cursors bind on the client (they quote every parameter into
    the query text), which can be neither prepared nor sent in binary. Wrapped as Django wraps its
    cursors, so query logging and execute wrappers see it."""
    import psycopg  # the PostgreSQL driver (psycopg 3), only needed on PostgreSQL

    connection.ensure_connection()
    wrapper = _DebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(psycopg.Cursor(connection.connection), connection)


class _DebugWrapper(CursorDebugWrapper):
    """Logs each query as written (with its parameters beside it): psycopg has no query text to
    give Django for a run of a prepared statement, which Django would log as None."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params, use_last_executed_query=False):
            return super(CursorDebugWrapper, self).execute(sql, params)
