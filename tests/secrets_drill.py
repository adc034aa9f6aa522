"""The machinery of the secrets-leak drill (tests/integration/test_secrets_leak.py).

A `Drill` holds every secret a walk makes or types (`add_secret`), records every answer of its
test clients (`client()`), gathers what else Portico wrote while it ran (logs, emails, the outbox,
the database, sessions, the cache, task arguments, calls to other hosts, command output) and then
looks for each secret in all of it (`findings`).

What counts as found: the whole secret, or any run of at least MIN_LEAK_CHARS characters of it
after its public prefix (``prt_key_AbCd1234`` is meant to be shown; the 38 characters after it are
not), in the text as written, HTML-unescaped, URL-decoded, JSON-unescaped or with its line breaks
removed. A secret may be looked for in other forms too: inside the base64 of an HTTP Basic header,
or, for a private key, only the characters of its PEM that encode its private number (the rest of a
PEM is the same in every key of its type, or public) and that number in hex.

The one place a secret may appear is the answer that shows it once (`shown_once`): the page or JSON
answer that creates it, which must carry ``Cache-Control: no-store``. Everything else is a leak.

The search indexes every MIN_GRAM_CHARS-character run of every secret, then reads each text at
steps of MIN_GRAM_CHARS: a run of 2 * MIN_GRAM_CHARS shared characters always covers one aligned
gram of the text, which is then extended both ways to measure the shared run.
"""

import base64
import html
import io
import json
import logging
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.test import Client

MIN_LEAK_CHARS = 16
MIN_GRAM_CHARS = MIN_LEAK_CHARS // 2
SNIPPET_CHARS = 40
LINE_BREAKS = re.compile(r"\\+[nr]|[\r\n]")  # real ones, and as JSON or a repr writes them

RESPONSES = "responses"
LOGS = "logs"
CONSOLE = "logs (console output)"
EMAILS = "emails (sent)"
OUTBOX = "emails (outbox rows)"
DUMPDATA = "database (dumpdata)"
RAW_DB = "database (raw columns)"
SESSIONS = "sessions (decoded)"
CACHE = "cache"
TASKS = "task arguments"
OUTBOUND = "requests to other hosts"
COMMANDS = "command output"


@dataclass
class Secret:
    label: str
    value: str
    kind: str = ""  # for the figures: "API key", "password", ...
    public: str = ""  # the part meant to be shown (the prt_<kind>_<lookup> prefix)
    forms: tuple[str, ...] = ()  # other spellings to look for (a Basic header, a PEM's body)
    only_forms: bool = False  # look for the forms only (a PEM: its secret part, not its fixed header)

    def __repr__(self) -> str:  # a failing drill must not print the secrets it looked for
        return f"Secret({self.label!r})"

    def material(self) -> list[str]:
        """The strings whose runs of MIN_LEAK_CHARS must appear nowhere."""
        secret_part = self.value[len(self.public) :] if self.public else self.value
        texts = self.forms if self.only_forms else (secret_part, *self.forms)
        return [text for text in texts if text]


def private_key_forms(pem: str) -> tuple[str, ...]:
    """What of a PEM private key is secret, as it can be found: the base64 characters that encode
    only its private number (a key's PKCS#8 header, and the public key after it, are the same as in
    any other key or in its certificate), and that number in hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    der = base64.b64decode(body)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        number = key.private_numbers().private_value
        length = (key.curve.key_size + 7) // 8
    elif isinstance(key, rsa.RSAPrivateKey):
        number = key.private_numbers().d
        length = (number.bit_length() + 7) // 8
    else:
        return (body,)
    raw = number.to_bytes(length, "big")
    start = der.find(raw)
    assert start >= 0, "the private number is not in the key's DER"
    return body[_base64_span(start, length)], f"{number:x}"


def _base64_span(start: int, length: int) -> slice:
    """The base64 characters made of bytes start..start+length-1 alone (character c carries bits
    6c..6c+5 of the bytes), so the text around those bytes does not count as part of a secret."""
    return slice(-(-8 * start // 6), 8 * (start + length) // 6)


@dataclass
class Haystack:
    place: str
    where: str
    text: str
    response: "RecordedResponse | None" = None


@dataclass
class RecordedResponse:
    index: int
    method: str
    path: str
    status: int
    cache_control: str
    text: str  # the status line, the headers and cookies (decoded messages included), the body


@dataclass
class Finding:
    secret: Secret
    place: str
    where: str
    whole: bool  # the whole value, not only a part of it
    shared_chars: int
    snippet: str  # the text around it, the secret itself masked
    allowed: bool = False  # the one answer that shows it, with no-store
    problem: str = ""  # for an allowed place that is not as it must be (no no-store)

    def describe(self) -> str:
        what = "whole" if self.whole else f"{self.shared_chars} characters of it"
        return f"{self.secret.label} ({what}) in {self.place}: {self.where} … {self.snippet} …"


class Drill:
    def __init__(self) -> None:
        self.secrets: dict[str, Secret] = {}
        self.responses: list[RecordedResponse] = []
        self.haystacks: list[Haystack] = []
        self._shown: dict[int, set[str]] = {}  # response index -> values it may show
        self.tasks: list[str] = []  # Celery tasks run, with their arguments
        self.console = io.StringIO()  # what the project's console log handler wrote
        self.logger_levels: dict[str, str] = {}  # loggers left above DEBUG, for the figures

    # --- secrets --------------------------------------------------------------------------------
    def add_secret(
        self,
        label: str,
        value: str,
        *,
        kind: str = "",
        public: str = "",
        forms: Iterable[str] = (),
        only_forms: bool = False,
    ) -> str:
        if value in self.secrets:
            return value
        assert len(value) - len(public) >= MIN_LEAK_CHARS, f"{label}: too short to look for"
        self.secrets[value] = Secret(
            label, value, kind=kind or label, public=public, forms=tuple(forms), only_forms=only_forms
        )
        return value

    def add_private_key(self, label: str, pem: str) -> str:
        return self.add_secret(label, pem, kind="private key", forms=private_key_forms(pem), only_forms=True)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for secret in self.secrets.values():
            counts[secret.kind] = counts.get(secret.kind, 0) + 1
        return dict(sorted(counts.items()))

    def add_basic_form(self, value: str, client_id: str) -> None:
        """Also look for the secret inside an HTTP Basic header with this client ID: the base64
        characters that encode the secret alone (the client ID's are no secret)."""
        secret = self.secrets[value]
        head, encoded = f"{client_id}:".encode(), value.encode()
        basic = base64.b64encode(head + encoded).decode()
        secret.forms = (*secret.forms, basic[_base64_span(len(head), len(encoded))])

    # --- answers --------------------------------------------------------------------------------
    def client(self, **defaults: object) -> "DrillClient":
        return DrillClient(self, **defaults)

    def record(self, request: dict, response) -> RecordedResponse:
        method = str(request.get("REQUEST_METHOD", "GET"))
        path = str(request.get("PATH_INFO", ""))
        if request.get("QUERY_STRING"):
            path += "?" + str(request["QUERY_STRING"])
        head = [f"{response.status_code} {getattr(response, 'reason_phrase', '')}"]
        head += [f"{name}: {value}" for name, value in response.items()]
        head += [morsel.OutputString() for morsel in response.cookies.values()]
        messages_cookie = response.cookies.get("messages")
        if messages_cookie is not None and messages_cookie.value:
            head.append("messages (decoded): " + _decoded_messages(messages_cookie.value))
        if getattr(response, "streaming", False):
            content = b"".join(response.streaming_content)
            response.streaming_content = [content]
        else:
            content = response.content
        text = "\n".join(head) + "\n\n" + content.decode("utf-8", errors="replace")
        recorded = RecordedResponse(
            index=len(self.responses),
            method=method,
            path=path,
            status=response.status_code,
            cache_control=response.get("Cache-Control", ""),
            text=text,
        )
        self.responses.append(recorded)
        return recorded

    def shown_once(self, response, *values: str) -> None:
        """The answer that shows these secrets once: they may appear there, and nowhere else."""
        index = response.drill_index
        for value in values:
            assert value in self.secrets, "shown_once of a secret the drill does not know"
            assert value in self.responses[index].text, (
                f"{self.secrets[value].label} is not in the answer that should show it"
            )
            self._shown.setdefault(index, set()).add(value)

    # --- what else Portico wrote ------------------------------------------------------------------
    def add(self, place: str, where: str, text: str) -> None:
        if text:
            self.haystacks.append(Haystack(place, where, text))

    def add_log_records(self, records: Iterable[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        standard = set(vars(logging.makeLogRecord({})))
        for number, record in enumerate(records):
            text = formatter.format(record)
            extras = {key: value for key, value in vars(record).items() if key not in standard}
            if extras:
                text += "\n" + "\n".join(f"{key}={value!r}" for key, value in extras.items())
            self.add(LOGS, f"record {number} ({record.name}, {record.levelname})", text)

    def add_emails(self, outbox) -> None:
        for number, message in enumerate(outbox):
            parts = [
                f"Subject: {message.subject}",
                f"From: {message.from_email}",
                f"To: {', '.join(message.to)}",
                *(f"{name}: {value}" for name, value in (message.extra_headers or {}).items()),
                message.body,
                *(str(content) for content, _mimetype in getattr(message, "alternatives", [])),
                *(str(attachment) for attachment in message.attachments),
                # The message as sent, its parts encoded: also looked at decoded above.
                message.message().as_string(),
            ]
            self.add(EMAILS, f"email {number} to {', '.join(message.to)}: {message.subject}", "\n".join(parts))

    def add_outbox_rows(self) -> None:
        from portal.models import OutboundEmail

        for row in OutboundEmail.objects.order_by("pk"):
            text = "\n".join([row.subject, row.body_text, row.body_html])
            self.add(OUTBOX, f"OutboundEmail {row.pk}: {row.subject}", text)

    def add_database(self, connection) -> dict[str, int]:
        """dumpdata of every app, every text and JSON column of every table as stored (so encrypted
        fields show their ciphertext), and every session decoded. Returns rows read per table."""
        from django.apps import apps
        from django.contrib.sessions.models import Session
        from django.core.management import call_command

        # Models without a table of their own (unmanaged: permission holders) have nothing to dump.
        tableless = [model._meta.label for model in apps.get_models() if not model._meta.managed]
        dumped = io.StringIO()
        call_command("dumpdata", stdout=dumped, indent=None, exclude=tableless)
        for number, entry in enumerate(json.loads(dumped.getvalue())):
            where = f"{entry['model']} pk={entry.get('pk')}"
            self.add(DUMPDATA, f"object {number}: {where}", json.dumps(entry, ensure_ascii=False))

        rows_per_table: dict[str, int] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND data_type IN "
                "('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED') "
                "ORDER BY table_name, ordinal_position"
            )
            columns: dict[str, list[str]] = {}
            for table, column in cursor.fetchall():
                columns.setdefault(table, []).append(column)
            for table, names in columns.items():
                quoted = ", ".join(f'"{name}"::text' for name in names)
                cursor.execute(f'SELECT {quoted} FROM "{table}"')  # noqa: S608 - names from the catalogue
                rows = cursor.fetchall()
                rows_per_table[table] = len(rows)
                for number, row in enumerate(rows):
                    text = "\n".join(f"{name}={value}" for name, value in zip(names, row, strict=True) if value)
                    self.add(RAW_DB, f"{table} row {number}", text)

        for session in Session.objects.all():
            self.add(SESSIONS, f"session {session.session_key[:6]}…", json.dumps(session.get_decoded(), default=str))
        return rows_per_table

    def add_cache(self) -> None:
        from django.core.cache import caches

        for alias in caches:
            backend = caches[alias]
            store = getattr(backend, "_cache", None)
            if not isinstance(store, dict):  # not the local-memory cache: its keys are what we can read
                continue
            for key, pickled in list(store.items()):
                try:
                    value = pickle.loads(pickled)  # noqa: S301 - our own process's cache
                except Exception:  # noqa: BLE001 - whatever it is, its bytes are searched
                    value = pickled
                self.add(CACHE, f"{alias}: {key}", f"{key}={value!r}")

    def add_outbound(self, name: str, log: Iterable) -> None:
        """What Portico sent to a server on loopback (pytest-httpserver's log): one haystack for
        the Authorization header, one for the rest, so a Basic header to the token endpoint can be
        allowed on its own."""
        for number, (request, _response) in enumerate(log):
            headers = [f"{key}: {value}" for key, value in request.headers.items() if key.lower() != "authorization"]
            rest = f"{request.method} {request.full_path}\n" + "\n".join(headers) + "\n\n"
            rest += request.get_data().decode("utf-8", errors="replace")
            self.add(OUTBOUND, f"{name} request {number}: {request.method} {request.path}", rest)
            if "Authorization" in request.headers:
                self.add(
                    OUTBOUND,
                    f"{name} request {number}: Authorization header",
                    request.headers["Authorization"],
                )

    # --- the search -----------------------------------------------------------------------------
    def findings(self, *, allowed_outbound: dict[str, set[str]] | None = None) -> list[Finding]:
        """Every place a secret was found; those of its one showing marked allowed (or with a
        problem when that answer may be cached). `allowed_outbound`: where (a haystack's `where`)
        -> secret values legitimately sent there (a tenant's secret to its own token endpoint)."""
        allowed_outbound = allowed_outbound or {}
        grams = self._grams()
        found: list[Finding] = []
        stacks = [
            Haystack(RESPONSES, f"#{r.index} {r.method} {r.path} → {r.status}", r.text, r) for r in self.responses
        ]
        for stack in stacks + self.haystacks:
            variants = [stack.text, *_variants(stack.text)]
            for secret, shared, snippet in self._search(variants, grams):
                wholes = secret.material() if secret.only_forms else [secret.value]
                whole = any(value in variant for value in wholes for variant in variants)
                finding = Finding(secret, stack.place, stack.where, whole, shared, snippet)
                if stack.response is not None and secret.value in self._shown.get(stack.response.index, set()):
                    finding.allowed = True
                    if "no-store" not in stack.response.cache_control:
                        finding.allowed = False
                        finding.problem = f"shown without Cache-Control: no-store ({stack.response.cache_control!r})"
                elif secret.value in allowed_outbound.get(stack.where, set()):
                    finding.allowed = True
                found.append(finding)
        return found

    def searched(self) -> tuple[int, int, dict[str, int]]:
        """(places, bytes, places per kind) searched."""
        per_kind: dict[str, int] = {RESPONSES: len(self.responses)}
        for stack in self.haystacks:
            per_kind[stack.place] = per_kind.get(stack.place, 0) + 1
        size = sum(len(r.text.encode()) for r in self.responses) + sum(len(s.text.encode()) for s in self.haystacks)
        return len(self.responses) + len(self.haystacks), size, per_kind

    def _grams(self) -> dict[str, list[tuple[Secret, str, int]]]:
        grams: dict[str, list[tuple[Secret, str, int]]] = {}
        for secret in self.secrets.values():
            for material in secret.material():
                if len(material) < MIN_LEAK_CHARS:
                    continue
                for offset in range(len(material) - MIN_GRAM_CHARS + 1):
                    grams.setdefault(material[offset : offset + MIN_GRAM_CHARS], []).append((secret, material, offset))
        return grams

    def _search(self, variants: list[str], grams: dict) -> list[tuple[Secret, int, str]]:
        best: dict[str, tuple[Secret, int, str]] = {}
        for variant in variants:
            for position in range(0, len(variant) - MIN_GRAM_CHARS + 1, MIN_GRAM_CHARS):
                candidates = grams.get(variant[position : position + MIN_GRAM_CHARS])
                if not candidates:
                    continue
                for secret, material, offset in candidates:
                    start, end = _shared_run(variant, position, material, offset)
                    shared = end - start
                    if shared < MIN_LEAK_CHARS:
                        continue
                    if shared > best.get(secret.value, (None, 0, ""))[1]:
                        best[secret.value] = (secret, shared, _snippet(variant, start, end, secret.label))
        return list(best.values())


class DrillClient(Client):
    """A test client that records every answer it gets (redirects followed included)."""

    def __init__(self, drill: Drill, **defaults: object) -> None:
        super().__init__(**defaults)
        self.drill = drill

    def request(self, **request):
        response = super().request(**request)
        recorded = self.drill.record(request, response)
        response.drill_index = recorded.index
        return response


def _variants(text: str) -> list[str]:
    variants = []
    if "&" in text:
        variants.append(html.unescape(text))
    if "%" in text or "+" in text:
        decoded = unquote_plus(text)
        if decoded != text:
            variants.append(decoded)
    if "\\n" in text or "\\/" in text:
        variants.append(text.replace("\\n", "\n").replace("\\/", "/"))
    if "PRIVATE KEY" in text:  # a PEM's lines joined, however its line breaks were escaped
        variants.append(LINE_BREAKS.sub("", text))
    return variants


def _shared_run(text: str, position: int, material: str, offset: int) -> tuple[int, int]:
    """The span of text around `position` that equals material around `offset`."""
    start, moff = position, offset
    while start > 0 and moff > 0 and text[start - 1] == material[moff - 1]:
        start, moff = start - 1, moff - 1
    end, mend = position + MIN_GRAM_CHARS, offset + MIN_GRAM_CHARS
    while end < len(text) and mend < len(material) and text[end] == material[mend]:
        end, mend = end + 1, mend + 1
    return start, end


def _snippet(text: str, start: int, end: int, label: str) -> str:
    before = text[max(0, start - SNIPPET_CHARS) : start]
    after = text[end : end + SNIPPET_CHARS]
    return " ".join(f"{before}«{label}»{after}".split())


def _decoded_messages(value: str) -> str:
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import RequestFactory

    storage = CookieStorage(RequestFactory().get("/"))
    try:
        messages = storage._decode(value) or []
    except Exception:  # noqa: BLE001 - an undecodable cookie is searched as it is
        return value
    return " | ".join(str(message) for message in messages)
