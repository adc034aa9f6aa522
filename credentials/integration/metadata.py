"""What an API credential's metadata may hold: the rule of its shape, size and characters, whoever
calls (the REST API, a command, a page). Plain Python, as credentials.lib.secret_rules is for
typed secrets: credentials.integration.services enforces it in every write, the JSON:API
serializers only check that metadata is an object and quote MAX_BYTES."""

import json
import math

from django.core.exceptions import ValidationError

from credentials.lib import text

MAX_BYTES = 10_000
MAX_DEPTH = 16  # levels of objects and lists below metadata itself


def problem(metadata: object) -> ValidationError | None:
    """Why the metadata cannot be stored (a ValidationError with its code), or None. It must be a
    JSON object that PostgreSQL's jsonb and every later answer can hold: JSON values only, at most
    MAX_DEPTH deep, finite numbers, text without NUL or lone surrogates, at most MAX_BYTES of
    JSON. Walked without recursion: a caller in Python may pass anything."""
    if not isinstance(metadata, dict):
        return ValidationError("Metadata is a JSON object.", code="invalid")
    pending: list[tuple[object, int]] = [(metadata, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return ValidationError(f"Metadata nests at most {MAX_DEPTH} levels deep.", code="too_deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(value, dict) and not isinstance(key, str):
                    return ValidationError("Metadata keys are text.", code="invalid")
                if isinstance(key, str) and text.unstorable(key):
                    return ValidationError("A metadata key contains NUL or an invalid character.", code="invalid")
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            if text.unstorable(value):
                return ValidationError("A metadata value contains NUL or an invalid character.", code="invalid")
        elif isinstance(value, float):
            if not math.isfinite(value):
                return ValidationError("Metadata numbers are finite (no NaN or Infinity).", code="invalid")
        elif not (value is None or isinstance(value, bool | int)):
            return ValidationError("Metadata holds JSON values only.", code="invalid")
    too_big = ValidationError(f"Metadata is at most {MAX_BYTES} bytes of JSON.", code="too_big")
    try:
        size = len(json.dumps(metadata).encode())
    except ValueError:  # an int past Python's 4,300 digits, which only a caller in Python can pass
        return too_big
    return too_big if size > MAX_BYTES else None
