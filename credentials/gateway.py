"""`/gateway/verify`: a runtime target (gateway) asks whether a presented API key is valid for an API.

The gateway authenticates with its own token (``Authorization: Bearer prt_gw_...``) and sends the
key and the API's slug, either as headers (``X-Portico-Key``, ``X-Portico-Api``: what nginx's
``auth_request`` sends, as its subrequest has no body) or as a JSON or form body (``key``, ``api``).
Headers win when both are given. The key is never read from the query string, where it would be
logged.

Answers:
- 200 ``{"valid": true, "api", "consumer", "key_id", "expires_at", "remaining_seconds", "rotated"}``
- 403 ``{"valid": false, "reason": ...}`` with a reason from `Reason`;
- 401 when the gateway's own token is missing or wrong (nothing about the key is told then);
- 400 when the API slug is missing or the body cannot be read; 405 for methods other than GET/POST.
The reason and the consumer are also sent as ``X-Portico-Reason`` / ``X-Portico-Consumer`` headers so
that nginx can log or forward them (``auth_request_set``) without reading the body.

Cost of one answer: the key's shape and checksum are checked first (a malformed key, or an API that
is not this gateway's, costs no database read); then usually none (the snapshot below), and at
most one read: the snapshot's sync (once a second per process), or a read by the unique index on
``KeySecret.prefix`` that brings the key and its consumer along (two joins), never both, except
that a process's first answer (and one per `FULL_RELOAD_SECONDS`) also loads the snapshot. The
secret is compared
as an HMAC-SHA256, not a password hash (keys are 190 random bits: a slow hash adds nothing but
latency). The endpoint runs before
every other middleware (GatewayVerifyMiddleware), so no session, user or message is looked at.

Caches, in each process:
- each gateway's token digest and the slugs of its APIs (one query, at most `CACHE_SECONDS`, 1 s,
  old), so the common path reads nothing for the target, and the key's read needs no join to the
  API (each join costs PostgreSQL about as much as the lookup itself);
- a snapshot of every usable key secret's facts (`_Snapshot`: prefix -> digest, key, status,
  expiry, grace end, API, consumer), loaded once and then kept fresh by an incremental sync at most
  `CACHE_SECONDS` apart: one query by the index on ``ApiKey.updated_at`` for the keys changed since
  the previous sync (minus `SYNC_OVERLAP_SECONDS`, for transactions that committed late and clocks
  that differ a little between hosts). Every write path that changes what an answer depends on
  bumps ``ApiKey.updated_at`` (a key's secrets change only together with their key). A snapshot
  whose last sync started `CACHE_SECONDS` ago or more is never answered from: the request that
  finds it so runs the sync (and, in the same query, reads its own prefix if the snapshot lacks
  it), so a revocation is seen by every worker within `CACHE_SECONDS` of its commit, while most
  answers read nothing. Only facts are kept, never a verdict: the presented secret is compared
  against the digest, and expiry and a rotated secret's grace end are judged against the clock on
  every request, so they take effect to the second. A full reload every `FULL_RELOAD_SECONDS`
  (and when the clock goes backwards) is a backstop for what a sync cannot see: deleted rows (no
  code path deletes keys or secrets) and a consumer's new username. Bounded: above
  `SNAPSHOT_MAX_KEYS` usable secrets the snapshot is dropped and the per-prefix cache below does
  all the work, as before it existed;
- what the database said about a prefix the snapshot does not hold (a key issued since the last
  sync, a revoked or rejected key, an old rotated secret), at most `CACHE_SECONDS` old. Keyed by
  prefix rather than by the presented value, so that someone sending many wrong secrets for one
  prefix cannot grow the cache, and no secret (not even its digest) becomes a dictionary key;
- prefixes the database has no secret for, for `ABSENT_SECONDS` (at most `MAX_ABSENT` of them):
  a prefix is 8 random base62 characters chosen by Portico, so one that was presented before it
  was issued is all but impossible, and if it happened the new key would be refused as unknown
  for that long, never accepted wrongly.

Made-up keys: a prefix that is in none of the above costs its own read, at most
`MISS_READS_PER_SECOND` a second per process. Beyond that (a flood of made-up or old keys) such a
prefix is answered from the snapshot, synced again (one query) when its last sync is
`MISS_SYNC_SECONDS` (50 ms) old: so the failure path costs about what the success path does, and
during a flood only, a key issued in the last 50 ms may be refused as unknown once, and a revoked
or rotated-out key is answered "unknown" instead of "revoked" or "rotated-out". Never a wrong pass.

Memory: about 0.4-0.5 KB per usable secret in each process (about 45 MB at the 100,000 limit).

Last use: recorded in a per-process buffer and written by one UPDATE per `LAST_USED_FLUSH_SECONDS`
at most (and at exit), never one write per request. So ``ApiKey.last_used_at`` is accurate to that
interval, and a process that dies without exiting loses at most that much of it.
"""

import atexit
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from credentials import crypto
from credentials.models import ApiKey, KeySecret, RuntimeTarget

logger = logging.getLogger(__name__)
T = TypeVar("T")

VERIFY_PATH = "/gateway/verify"
TOKEN_KIND = "gw"  # noqa: S105 - the kind of Portico secret, not a secret
KEY_KIND = "key"
# The revocation promise: a revoked key stops passing within this many seconds on every worker.
# A setting may shorten it, never lengthen it.
CACHE_SECONDS = min(float(getattr(settings, "PORTICO_GATEWAY_CACHE_SECONDS", 1.0)), 1.0)
LAST_USED_FLUSH_SECONDS = float(getattr(settings, "PORTICO_GATEWAY_LAST_USED_FLUSH_SECONDS", 5.0))
# Beyond this many cached prefixes the stale ones are dropped (and all of them if that is not
# enough). Entries live one second, and no worker answers this many requests in one.
MAX_CACHED = 20_000
# Keep each UPDATE's list of ids well below every backend's limit on query parameters.
FLUSH_CHUNK = 5_000
# The snapshot: at most this many usable key secrets per process (about 0.5 KB each); above it,
# only the per-prefix cache. 0 turns the snapshot off.
SNAPSHOT_MAX_KEYS = int(getattr(settings, "PORTICO_GATEWAY_SNAPSHOT_MAX_KEYS", 100_000))
# Each sync also reads keys changed this long before the previous sync started: a write's
# updated_at is taken before its transaction commits, on the writer's clock.
SYNC_OVERLAP_SECONDS = float(getattr(settings, "PORTICO_GATEWAY_SYNC_OVERLAP_SECONDS", 10.0))
FULL_RELOAD_SECONDS = float(getattr(settings, "PORTICO_GATEWAY_FULL_RELOAD_SECONDS", 300.0))
ABSENT_SECONDS = float(getattr(settings, "PORTICO_GATEWAY_ABSENT_SECONDS", 300.0))
MAX_ABSENT = 20_000
# Reads of prefixes a fresh snapshot lacks, per second and process; beyond them (a flood of made-up
# keys) such prefixes are answered by a sync at most every MISS_SYNC_SECONDS (see lookup_missing).
MISS_READS_PER_SECOND = int(getattr(settings, "PORTICO_GATEWAY_MISS_READS_PER_SECOND", 20))
MISS_SYNC_SECONDS = min(float(getattr(settings, "PORTICO_GATEWAY_MISS_SYNC_SECONDS", 0.05)), CACHE_SECONDS)


class Reason(StrEnum):
    UNKNOWN = "unknown"  # no such key, a wrong secret, or a key for another API or gateway
    MALFORMED = "malformed"  # not a Portico key: wrong shape or checksum (no database read)
    EXPIRED = "expired"
    REVOKED = "revoked"
    ROTATED_OUT = "rotated-out"  # an old secret of a rotated key, after its grace period
    INACTIVE = "inactive"  # pending approval, or its issue was rejected


def _clock() -> float:
    # Wall-clock seconds, not time.monotonic(), so tests can move it with time_machine. A clock that
    # jumps backwards makes entries look stale (see _fresh), never fresher than they are.
    return time.time()


def _fresh(fetched_at: float, now: float) -> bool:
    return 0 <= now - fetched_at < CACHE_SECONDS


# --- What the database says about a key secret -------------------------------------------------
class SecretFacts(NamedTuple):
    """One row: the secret, its key and the key's consumer (KeySecret ⨝ ApiKey ⨝ User)."""

    digest: str
    valid_until: datetime | None
    api_key_id: int
    key_id: str
    status: str
    expires_at: datetime | None
    api_id: int
    consumer: str


_FACT_FIELDS = (
    "digest",
    "valid_until",
    "api_key_id",
    "api_key__prefix",
    "api_key__status",
    "api_key__expires_at",
    "api_key__api_id",
    "api_key__consumer__username",
)


@functools.cache
def _secret_sql() -> str:
    """The SQL of the read, built by the ORM once per process; only the prefix changes.

    Building a query with joins costs the ORM about as much as running it does, on every call;
    this keeps the ORM's SQL (it follows the models) without paying for it per request.
    """
    query = KeySecret.objects.filter(prefix="").order_by().values_list(*_FACT_FIELDS)[:1].query
    sql, params = query.sql_with_params()
    if list(params) != [""]:
        raise ImproperlyConfigured(f"Unexpected parameters in the gateway's key query: {params!r}")
    return sql


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC datetimes to a plain cursor (the ORM would have converted them).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _read(fetch: Callable[[], T]) -> T:
    """Run one autocommit read; if the persistent connection was dropped, reconnect and retry once.

    This stands in for Django's per-request health check (CONN_HEALTH_CHECKS), which would send a
    "SELECT 1" before the read, a second round trip on every answer. A lone SELECT outside any
    transaction is safe to run again. (If Django renames the flag, the check simply comes back.)
    """
    connection.health_check_done = True
    try:
        return fetch()
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block:
            raise
        connection.close()
        return fetch()


def _fetch_secret_row(prefix: str) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(_secret_sql(), [prefix])
        return cursor.fetchone()


def _read_secret(prefix: str) -> SecretFacts | None:
    # The one database read of a verification: served by the unique index on KeySecret.prefix;
    # the joins bring the key and its consumer along.
    row = _read(lambda: _fetch_secret_row(prefix))
    if row is None:
        return None
    facts = SecretFacts(*row)
    return facts._replace(valid_until=_aware(facts.valid_until), expires_at=_aware(facts.expires_at))


class _Cache:
    """Per-process cache of lookups by a public prefix, each entry at most CACHE_SECONDS old.

    Entries are replaced whole (dict assignment is atomic under the GIL); two threads missing at
    once both read the database, which is harmless.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, prefix: str, now: float) -> tuple[bool, Any]:
        entry = self._entries.get(prefix)
        if entry is not None and _fresh(entry[0], now):
            return True, entry[1]
        return False, None

    def put(self, prefix: str, value: Any, fetched_at: float) -> None:
        if len(self._entries) >= MAX_CACHED:
            # list(): a snapshot, as another thread (gthread workers) may add entries meanwhile.
            self._entries = {p: e for p, e in list(self._entries.items()) if _fresh(e[0], fetched_at)}
            if len(self._entries) >= MAX_CACHED:
                self._entries = {}
        self._entries[prefix] = (fetched_at, value)

    def clear(self) -> None:
        self._entries = {}


_SNAPSHOT_FIELDS = ("prefix", *_FACT_FIELDS)


def _usable(facts: SecretFacts, now: datetime) -> bool:
    """Whether the snapshot keeps a secret: its key may pass now or later, and so may the secret.

    A revoked or rejected key never passes again, nor does a rotated secret after its grace; their
    prefixes are answered by the per-prefix read, as are keys issued since the last sync.
    """
    return facts.status in ApiKey.OPEN_STATUSES and (facts.valid_until is None or facts.valid_until > now)


def _fetch_rows(queryset: Any) -> list[tuple]:
    return list(queryset)


class _Snapshot:
    """Facts of every usable key secret of the database, by prefix, at most CACHE_SECONDS old.

    One thread syncs at a time; another that finds the snapshot stale meanwhile does not wait, it
    takes the per-prefix path (so no answer ever uses a snapshot older than CACHE_SECONDS).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self._entries: dict[str, SecretFacts] | None = None
        self._synced_at = 0.0  # when the last sync's query started (_clock())
        self._loaded_at = 0.0  # when the last full load's query started
        self._disabled_until = 0.0  # too many keys: retried after FULL_RELOAD_SECONDS
        self.loads = self.syncs = self.miss_syncs = 0  # for tests and curiosity

    def __len__(self) -> int:
        return len(self._entries or ())

    def lookup(self, prefix: str, clock: float) -> tuple[bool, SecretFacts | None]:
        """(True, facts or None: no such secret) when answered; (False, None): use the per-prefix path."""
        entries = self._entries
        if entries is not None and _fresh(self._synced_at, clock):
            facts = entries.get(prefix)
            return facts is not None, facts
        if SNAPSHOT_MAX_KEYS <= 0 or (entries is None and self._disabled_until >= clock):
            return False, None
        if not self._lock.acquire(blocking=False):
            return False, None
        try:
            return self._refresh(prefix, clock)
        finally:
            self._lock.release()

    def lookup_missing(self, prefix: str, clock: float) -> tuple[bool, SecretFacts | None]:
        """A prefix a fresh snapshot lacks, when per-prefix reads are over their budget (a flood of
        made-up keys): answered by a sync (which reads this prefix too) if the last one started
        MISS_SYNC_SECONDS ago or more, else from the snapshot: no such usable secret. So, during a
        flood only, a key issued in the last MISS_SYNC_SECONDS may be refused as unknown once, and
        a revoked key is answered "unknown" rather than "revoked". (False, None): no snapshot."""
        entries = self._entries
        if entries is None or not _fresh(self._synced_at, clock):
            return False, None
        if 0 <= clock - self._synced_at < MISS_SYNC_SECONDS or not self._lock.acquire(blocking=False):
            return True, entries.get(prefix)
        try:
            self.miss_syncs += 1
            return self._sync(entries, prefix, clock)
        finally:
            self._lock.release()

    def _refresh(self, prefix: str, clock: float) -> tuple[bool, SecretFacts | None]:
        entries = self._entries
        if (
            entries is None
            or not 0 <= clock - self._synced_at < FULL_RELOAD_SECONDS
            or not (0 <= clock - self._loaded_at < FULL_RELOAD_SECONDS)
        ):
            if not self._load(clock):
                return False, None
            facts = self._entries.get(prefix)  # type: ignore[union-attr]
            return facts is not None, facts
        return self._sync(entries, prefix, clock)

    def _load(self, clock: float) -> bool:
        # One query, all usable secrets (a sequential scan: once per process per FULL_RELOAD_SECONDS).
        now = datetime.fromtimestamp(clock, UTC)
        query = (
            KeySecret.objects.filter(api_key__status__in=ApiKey.OPEN_STATUSES)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .order_by()
            .values_list(*_SNAPSHOT_FIELDS)[: SNAPSHOT_MAX_KEYS + 1]
        )
        rows = _read(lambda: _fetch_rows(query))
        if len(rows) > SNAPSHOT_MAX_KEYS:
            self._disable(clock, len(rows))
            return False
        names: dict[str, str] = {}  # one string per consumer, not one per key
        entries = {}
        for row in rows:
            facts = SecretFacts(*row[1:])
            entries[row[0]] = facts._replace(consumer=names.setdefault(facts.consumer, facts.consumer))
        self._entries = entries
        self._synced_at = self._loaded_at = clock
        self.loads += 1
        return True

    def _sync(self, entries: dict[str, SecretFacts], prefix: str, clock: float) -> tuple[bool, SecretFacts | None]:
        # One query: the secrets of the keys changed since the previous sync (the index on
        # ApiKey.updated_at, then KeySecret's index on api_key_id), and, when the snapshot lacks
        # it, the presented prefix's row (the unique index on prefix): UNION ALL, one round trip.
        since = datetime.fromtimestamp(self._synced_at - SYNC_OVERLAP_SECONDS, UTC)
        now = datetime.fromtimestamp(clock, UTC)
        query = KeySecret.objects.filter(api_key__updated_at__gte=since).order_by().values_list(*_SNAPSHOT_FIELDS)
        wanted = prefix not in entries
        if wanted:
            own = KeySecret.objects.filter(prefix=prefix).order_by().values_list(*_SNAPSHOT_FIELDS)
            query = query.union(own, all=True)
        rows = _read(lambda: _fetch_rows(query))
        found = None
        for row in rows:
            facts = SecretFacts(*row[1:])
            if _usable(facts, now):
                entries[row[0]] = facts
            else:
                entries.pop(row[0], None)
            if row[0] == prefix:
                found = facts
        if len(entries) > SNAPSHOT_MAX_KEYS:
            self._disable(clock, len(entries))
        else:
            self._synced_at = clock
        self.syncs += 1
        if found is not None:
            # Changed since the last sync, or read for this request: a key issued since the last
            # load, or one the snapshot does not keep (revoked...), whose next asks read it again.
            _secrets.put(prefix, found, clock)
            return True, found
        if wanted:
            _absent.add(prefix, clock)
            return True, None  # read just now: there is no such secret
        return True, entries.get(prefix)

    def _disable(self, clock: float, count: int) -> None:
        logger.warning(
            "More than %d usable API key secrets (%d): the gateway answers from per-prefix reads instead of a snapshot",
            SNAPSHOT_MAX_KEYS,
            count,
        )
        self._entries = None
        self._disabled_until = clock + FULL_RELOAD_SECONDS


class _Budget:
    """At most `per_second` takes per second (a fixed window), for the reads of unknown prefixes."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.clear()

    def take(self, clock: float) -> bool:
        if not 0 <= clock - self._window < 1.0:
            self._window, self._used = clock, 0
        if self._used >= self.per_second:
            return False
        self._used += 1
        return True

    def clear(self) -> None:
        self._window, self._used = 0.0, 0


class _Absent:
    """Prefixes the database has no secret for, remembered for ABSENT_SECONDS (see the docstring)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def __contains__(self, prefix: str) -> bool:
        seen = self._seen.get(prefix)
        return seen is not None and 0 <= _clock() - seen < ABSENT_SECONDS

    def add(self, prefix: str, clock: float) -> None:
        if len(self._seen) >= MAX_ABSENT:
            self._seen = {}  # someone sends many made-up prefixes: start over, reads bound the cost
        self._seen[prefix] = clock

    def clear(self) -> None:
        self._seen = {}


_secrets = _Cache()  # key prefix -> SecretFacts | None
_targets = _Cache()  # gateway token prefix -> Target | None
_snapshot = _Snapshot()
_absent = _Absent()
_miss_reads = _Budget(MISS_READS_PER_SECOND)


# --- Last use, buffered ------------------------------------------------------------------------
class LastUsedBuffer:
    """The keys used since the last flush; one UPDATE writes them at most every `interval` s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self._latest: datetime | None = None
        self._flushed_at = _clock()

    def record(self, api_key_id: int, used_at: datetime) -> None:
        with self._lock:
            self._ids.add(api_key_id)
            if self._latest is None or used_at > self._latest:
                self._latest = used_at
            now = _clock()
            due = not 0 <= now - self._flushed_at < self.interval
        if due:
            self.flush()

    def flush(self) -> int:
        """Write the buffered last-use time; returns how many keys were written. Never raises."""
        with self._lock:
            ids, latest = self._ids, self._latest
            self._ids, self._latest = set(), None
            self._flushed_at = _clock()
        if not ids or latest is None:
            return 0
        written = 0
        try:
            ordered = sorted(ids)
            for start in range(0, len(ordered), FLUSH_CHUNK):
                chunk = ordered[start : start + FLUSH_CHUNK]
                # One time for the batch (its latest use): accurate to the flush interval, and
                # never moves a key's last use backwards (another process may have written later).
                written += (
                    ApiKey.objects.filter(pk__in=chunk)
                    .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=latest))
                    .update(last_used_at=latest)
                )
        except Exception:
            # Last use is informational: a database hiccup must not fail the gateway's answer.
            logger.warning("Could not record the last use of %d API keys", len(ids), exc_info=True)
        return written

    def clear(self) -> None:
        with self._lock:
            self._ids, self._latest = set(), None
            self._flushed_at = _clock()


last_used = LastUsedBuffer(LAST_USED_FLUSH_SECONDS)
atexit.register(last_used.flush)


def reset_state() -> None:
    """Forget every cache and the unwritten last uses (for tests)."""
    _secrets.clear()
    _targets.clear()
    _snapshot.clear()
    _absent.clear()
    _miss_reads.clear()
    last_used.clear()


# --- The gateway's own authentication ----------------------------------------------------------
class Target(NamedTuple):
    """A runtime target as the endpoint needs it: its token's digest and its APIs by slug."""

    id: int
    token_digest: str
    apis: dict[str, int]


def _read_target(prefix: str) -> Target | None:
    # Unique index on verify_token_prefix; one row per API of the target (a LEFT JOIN).
    rows = list(
        RuntimeTarget.objects.filter(verify_token_prefix=prefix)
        .order_by()
        .values_list("pk", "verify_token_digest", "apis__slug", "apis__pk")
    )
    if not rows:
        return None
    apis = {slug: api_id for _pk, _digest, slug, api_id in rows if slug is not None}
    return Target(id=rows[0][0], token_digest=rows[0][1], apis=apis)


@sensitive_variables("authorization", "token")
def authenticated_target(authorization: str) -> Target | None:
    """The runtime target whose ``Bearer prt_gw_...`` token this is, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    try:
        prefix = crypto.secret_prefix(token, TOKEN_KIND)
    except crypto.MalformedSecret:
        return None
    now = _clock()
    hit, target = _targets.get(prefix, now)
    if not hit:
        target = _read(lambda: _read_target(prefix))
        _targets.put(prefix, target, now)
    if target is None or not crypto.verify_secret(token, target.token_digest):
        return None
    return target


# --- The verdict -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    reason: Reason | None
    facts: SecretFacts | None = None
    expires_at: datetime | None = None  # when the presented secret stops being valid
    remaining_seconds: int | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def _judge(facts: SecretFacts, api_id: int, now: datetime) -> Verdict:
    # The key's state first (revoked, inactive, expired), then the secret's own (a rotated secret
    # after its grace): a rotated-out secret of a revoked key is answered "revoked".
    if facts.api_id != api_id:
        return Verdict(Reason.UNKNOWN)  # a key of another API: not this question's to describe
    if facts.status == ApiKey.Status.REVOKED:
        return Verdict(Reason.REVOKED, facts)
    if facts.status in (ApiKey.Status.PENDING, ApiKey.Status.REJECTED):
        return Verdict(Reason.INACTIVE, facts)
    if facts.status == ApiKey.Status.EXPIRED or (facts.expires_at is not None and facts.expires_at <= now):
        return Verdict(Reason.EXPIRED, facts)
    if facts.status != ApiKey.Status.ACTIVE:
        return Verdict(Reason.INACTIVE, facts)
    if facts.valid_until is not None and facts.valid_until <= now:
        return Verdict(Reason.ROTATED_OUT, facts)
    ends = [end for end in (facts.expires_at, facts.valid_until) if end is not None]
    expires_at = min(ends) if ends else None
    remaining = None if expires_at is None else int((expires_at - now).total_seconds())
    return Verdict(None, facts, expires_at, remaining)


@sensitive_variables("value")
def verify_key(*, value: str, api_slug: str, target: Target) -> Verdict:
    """Whether `value` is a valid key of the API `api_slug`, one of the APIs `target` enforces.

    At most one database read (none for a malformed key, an API that is not the target's, a prefix
    in a fresh snapshot or a cached prefix; a process's first answer, and one per
    FULL_RELOAD_SECONDS, also loads the snapshot); records the last use of a valid key in the buffer.
    """
    value = value.strip()
    try:
        prefix = crypto.secret_prefix(value, KEY_KIND)
    except crypto.MalformedSecret:
        return Verdict(Reason.MALFORMED)
    api_id = target.apis.get(api_slug)
    if api_id is None:
        return Verdict(Reason.UNKNOWN)  # not an API of this gateway: none of its keys are valid here
    clock = _clock()
    hit, facts = _snapshot.lookup(prefix, clock)
    if not hit:
        hit, facts = _secrets.get(prefix, clock)
    if not hit and prefix not in _absent:
        if not _miss_reads.take(clock):
            hit, facts = _snapshot.lookup_missing(prefix, clock)
        if not hit:
            facts = _read_secret(prefix)
            _secrets.put(prefix, facts, clock)
            if facts is None:
                _absent.add(prefix, clock)
    if facts is None or not crypto.verify_secret(value, facts.digest):
        return Verdict(Reason.UNKNOWN)
    now = timezone.now()
    verdict = _judge(facts, api_id, now)
    if verdict.valid:
        last_used.record(facts.api_key_id, now)
    return verdict


# --- HTTP --------------------------------------------------------------------------------------
def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    # Answers are about secrets and change within a second: no intermediary may keep them.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return HttpResponse(json.dumps(payload), content_type="application/json", status=status, headers=headers)


class BadRequest(ValueError):
    pass


def _key_and_api(request: HttpRequest) -> tuple[str | None, str | None]:
    key = request.META.get("HTTP_X_PORTICO_KEY")
    api = request.META.get("HTTP_X_PORTICO_API")
    if (key is None or api is None) and request.method == "POST":
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"{}")
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadRequest("The body is not valid JSON.") from exc
            if not isinstance(data, dict):
                raise BadRequest("The body must be a JSON object.")
        else:
            data = request.POST
        if key is None:
            key = data.get("key")
        if api is None:
            api = data.get("api")
    return (key if isinstance(key, str) else None), (api if isinstance(api, str) else None)


@csrf_exempt  # a machine endpoint authenticated by a bearer token, never by a cookie
@sensitive_post_parameters("key")
@sensitive_variables("key")
def verify(request: HttpRequest) -> HttpResponse:
    """Answer a gateway's question about a presented key (see the module's docstring)."""
    if request.method not in ("GET", "POST"):
        return _json(405, {"error": "Use POST (or GET with headers)."}, {"Allow": "GET, POST"})
    target = authenticated_target(request.META.get("HTTP_AUTHORIZATION", ""))
    if target is None:
        return _json(
            401,
            {"error": "Authenticate as a runtime target: Authorization: Bearer prt_gw_..."},
            {"WWW-Authenticate": 'Bearer realm="portico-gateway"'},
        )
    try:
        key, api = _key_and_api(request)
    except BadRequest as exc:
        return _json(400, {"error": str(exc)})
    except Exception:  # RequestDataTooBig, a broken multipart body: the gateway sent nonsense
        logger.info("Unreadable /gateway/verify body", exc_info=True)
        return _json(400, {"error": "The body could not be read."})
    if not api:
        return _json(400, {"error": "Name the API: X-Portico-Api header or `api` in the body."})
    api = api.strip()
    verdict = verify_key(value=key or "", api_slug=api, target=target)  # no key: malformed
    if not verdict.valid:
        response = _json(403, {"valid": False, "reason": verdict.reason}, {"X-Portico-Reason": str(verdict.reason)})
        # A refused key is an answer, not an error of Portico: without this, Django logs a WARNING
        # for each one (django.utils.log.log_response), and anyone with bad keys could flood the log.
        response._has_been_logged = True
        return response
    facts = verdict.facts
    assert facts is not None  # noqa: S101 - a valid verdict always carries its facts
    return _json(
        200,
        {
            "valid": True,
            "api": api,
            "consumer": facts.consumer,
            "key_id": facts.key_id,
            "expires_at": verdict.expires_at.isoformat() if verdict.expires_at else None,
            "remaining_seconds": verdict.remaining_seconds,
            "rotated": facts.valid_until is not None,
        },
        {"X-Portico-Consumer": facts.consumer},
    )


class GatewayVerifyMiddleware:
    """Answers /gateway/verify before any other middleware runs.

    First in settings.MIDDLEWARE on purpose: a gateway asks on every API call, so the answer skips
    what only people's requests need: sessions (a query per request once a cookie is sent),
    messages, authentication, CSRF (a bearer token, not a cookie, authenticates), clickjacking
    headers, htmx and audit context. It also skips SecurityMiddleware's HTTPS redirect: the
    gateway often reaches Portico over a private network; a redirect would not protect the token
    it already sent, and nginx's auth_request treats a 301 as an error.
    The same view is routed in portal/urls.py too (for reverse(), and in case this middleware is
    left out: it then works, only slower).
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == VERIFY_PATH:
            return verify(request)
        return self.get_response(request)
