"""Many rows in one statement, for the sweeps that write thousands at once (the reminder sweep's
claims and outbox emails).

rows_source() gives a FROM source that yields the rows as named columns, for an
INSERT ... SELECT ... FROM <source>. On PostgreSQL it is one JSON parameter through
jsonb_to_recordset: psycopg quotes each parameter client-side and splits a statement at each
placeholder, which cost more than the insert itself at a thousand rows of several columns
(bench/reminder_sweep.py). Elsewhere (SQLite) it is a VALUES list.
"""

import json
from datetime import datetime
from typing import Any

from django.db import connection


def rows_source(columns: dict[str, str], rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """(SQL, params) of a source named `r` whose columns are `columns` ({name: PostgreSQL type}).

    Values: str, int, bool, None, aware datetimes, and lists or dicts (for JSON columns)."""
    names = list(columns)
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        fields = ", ".join(f"{quote(name)} {kind}" for name, kind in columns.items())
        document = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_json_value)
        return f"jsonb_to_recordset(%s::jsonb) AS r({fields})", [document]
    aliases = ", ".join(f"column{index} AS {quote(name)}" for index, name in enumerate(names, start=1))
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    values = ", ".join([placeholders] * len(rows))
    params = [_plain_value(value) for row in rows for value in row]
    return f"(SELECT {aliases} FROM (VALUES {values})) AS r", params  # noqa: S608 - names from the caller, values as params


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a value rows_source() sends")


def _plain_value(value: object) -> object:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
