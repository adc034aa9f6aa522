"""Reading a JSON:API request document (the body of a POST or PATCH) before any member is used:
limits that hold for the whole document, wherever a client put the value.

- Nesting: at most MAX_DEPTH levels, counted on the text before it is decoded, so a body of
  10,000 nested arrays is refused with a pointer instead of exhausting the decoder's recursion.
- Characters: no NUL (PostgreSQL refuses it in text and jsonb) and no lone surrogate ("\\ud800"
  is valid JSON, but no UTF-8 holds it: every later answer that shows it would fail), in any
  string or member name.
- Numbers: finite. "1e400" decodes to infinity, which no JSON answer can carry back.
- The members the library reads: `data`, `attributes`, `relationships` and each relationship are
  objects where present.

Each check answers a DocumentProblem (status, code, detail, JSON pointer) for the parser to raise.
"""

import json
import math
import re
from typing import Any

from credentials.lib import text

MAX_DEPTH = 24  # the document, its data, attributes, metadata (which nests at most 16) and room


class DocumentProblem(Exception):
    """Why the document is refused: the HTTP status, an error code, a sentence, a JSON pointer."""

    def __init__(self, status: int, code: str, detail: str, pointer: str) -> None:
        super().__init__(status, code, detail, pointer)
        self.status, self.code, self.detail, self.pointer = status, code, detail, pointer


def read(body: bytes) -> Any:
    """The decoded document, or DocumentProblem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentProblem(400, "invalid_encoding", "The document is not UTF-8 text.", "/data") from None
    if not text.strip():
        raise DocumentProblem(400, "empty_document", 'The body is empty: send a document {"data": {...}}.', "/data")
    too_deep = _too_deep_at(text)
    if too_deep is not None:
        raise DocumentProblem(
            400, "too_deep", f"The document nests more than {MAX_DEPTH} levels of objects and lists.", too_deep
        )
    problem = None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        problem = f"The document is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
    except ValueError:  # int() of more digits than Python converts (4,300), or NaN / Infinity
        problem = "The document is not valid JSON as Portico reads it: a number is too long, or is NaN or Infinity."
    if problem:
        raise DocumentProblem(400, "invalid_json", problem, "/data")
    _check_values(document)
    _check_members(document)
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(name)


# Strings (with their escapes), or one of the four brackets: enough to count nesting and to
# know the member name or the index at each level.
_SYMBOL = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)


def _too_deep_at(text: str) -> str | None:
    """The pointer of the member whose value nests too deeply, or None. Only member names, at most
    three (down to the attribute), are given: a pointer 10,000 levels long helps nobody."""
    path: list[str] = []
    kinds: list[str] = []
    last_string = ""
    for match in _SYMBOL.finditer(text):
        symbol = match.group()
        if symbol in ("[", "{"):
            if len(kinds) >= MAX_DEPTH:
                return _member_pointer(kinds, path)
            kinds.append(symbol)
            path.append("0" if symbol == "[" else "")
        elif symbol in ("]", "}"):
            if kinds:
                kinds.pop()
                path.pop()
        elif symbol == ":" and kinds and kinds[-1] == "{":
            path[-1] = _string_value(last_string)
        elif symbol == "," and kinds and kinds[-1] == "[":
            path[-1] = str(int(path[-1]) + 1)
        elif symbol.startswith('"'):
            last_string = symbol
    return None


def _member_pointer(kinds: list[str], path: list[str]) -> str:
    names: list[str] = []
    for kind, part in zip(kinds, path, strict=True):
        if kind != "{" or len(names) == 3:
            break
        names.append(part)
    return _pointer(names) or "/data"


def _string_value(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return ""


def _pointer(path: list[str]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def _check_values(document: Any) -> None:
    """Every string and member name holds storable characters; every number is finite."""
    pending: list[tuple[Any, list[str]]] = [(document, [])]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if text.unstorable(key):
                    raise DocumentProblem(
                        422, "invalid_character", _character_detail(key, "A member name"), _pointer(path)
                    )
                pending.append((item, [*path, key]))
        elif isinstance(value, list):
            pending.extend((item, [*path, str(index)]) for index, item in enumerate(value))
        elif isinstance(value, str) and text.unstorable(value):
            raise DocumentProblem(422, "invalid_character", _character_detail(value, "This text"), _pointer(path))
        elif isinstance(value, float) and not math.isfinite(value):
            raise DocumentProblem(422, "invalid_number", "This number is too large to be stored.", _pointer(path))


def _character_detail(value: str, what: str) -> str:
    if "\x00" in value:
        return f"{what} contains NUL (U+0000), which cannot be stored."
    return f"{what} contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not a character."


def _check_members(document: Any) -> None:
    """The members the library reads without looking are objects (a string role was a 500)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        return  # the library answers these itself: 400 "does not contain primary data"
    data = document["data"]
    for member in ("attributes", "relationships"):
        if data.get(member) is not None and not isinstance(data[member], dict):
            raise DocumentProblem(400, "invalid_document", f"{member} must be an object.", f"/data/{member}")
    for name, relationship in (data.get("relationships") or {}).items():
        if not isinstance(relationship, dict):
            raise DocumentProblem(
                400,
                "invalid_document",
                f'The relationship {name} must be an object: {{"data": {{"type": ..., "id": ...}}}}.',
                _pointer(["data", "relationships", name]),
            )
