"""What a process knows of key secrets and gateways between database reads: per-prefix caches,
the snapshot of usable secrets kept fresh by a sync each second, the prefixes known to be absent,
and the budget of reads for made-up keys. The design, costs and promises are in docs/gateway.md."""

import functools
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

from credentials.keys.models import ApiKey, KeySecret
from credentials.lib.hot_reads import autocommit_read, aware, fetch_one

logger = logging.getLogger(__name__)


# The revocation promise: a revoked key stops passing within this many seconds on every worker.
# A setting may shorten it, never lengthen it.
CACHE_SECONDS = min(float(getattr(settings, "PORTICO_GATEWAY_CACHE_SECONDS", 1.0)), 1.0)


# Beyond this many cached prefixes the stale ones are dropped (and all of them if that is not
# enough). Entries live one second, and no worker answers this many requests in one.
MAX_CACHED = 20_000


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


def wall_clock() -> float:
    # Wall-clock seconds, not time.monotonic(), so tests can move it with time_machine. A clock that
    # jumps backwards makes entries look stale (see _fresh), never fresher than they are.
    return time.time()


def _fresh(fetched_at: float, now: float) -> bool:
    # Also within the same wall-clock second: nginx keeps a verify answer to the end of the second
    # it was given in (X-Accel-Expires, deploy/nginx/README.md), so a snapshot that never outlives
    # its second keeps the whole age of an answer at the edge, snapshot plus cache, under a second.
    return 0 <= now - fetched_at < CACHE_SECONDS and int(now) == int(fetched_at)


# --- What the database says about a key secret -------------------------------------------------
class SecretFacts(NamedTuple):
    """One row: the secret, its key and the key's consumer (KeySecret ⨝ ApiKey ⨝ User ⟕ Organization)."""

    digest: str
    valid_until: datetime | None
    api_key_id: int
    key_id: str
    status: str
    expires_at: datetime | None
    api_id: int
    consumer: str
    consumer_active: bool
    organization_active: bool | None  # None: a consumer of no organization

    @property
    def account_active(self) -> bool:
        """The consumer and their organization are active (deactivating either stops the key)."""
        # bool(): a plain cursor on SQLite hands back 0 and 1.
        return bool(self.consumer_active) and (self.organization_active is None or bool(self.organization_active))


_FACT_FIELDS = (
    "digest",
    "valid_until",
    "api_key_id",
    "api_key__prefix",
    "api_key__status",
    "api_key__expires_at",
    "api_key__api_id",
    "api_key__consumer__username",
    # Deactivating a user or an organization bumps their keys' updated_at (credentials.apps), so
    # the sync of every process sees these within CACHE_SECONDS.
    "api_key__consumer__is_active",
    "api_key__consumer__organization__is_active",
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


def _read_secret(prefix: str) -> SecretFacts | None:
    # The one database read of a verification: served by the unique index on KeySecret.prefix;
    # the joins bring the key and its consumer along.
    row = fetch_one(_secret_sql(), [prefix])
    if row is None:
        return None
    facts = SecretFacts(*row)
    return facts._replace(valid_until=aware(facts.valid_until), expires_at=aware(facts.expires_at))


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
    return (
        facts.status in ApiKey.OPEN_STATUSES
        and (facts.valid_until is None or facts.valid_until > now)
        and facts.account_active
    )


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
        self._synced_at = 0.0  # when the last sync's query started (wall_clock())
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
        rows = autocommit_read(lambda: _fetch_rows(query))
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
        rows = autocommit_read(lambda: _fetch_rows(query))
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

    _window: float  # when the current one-second window began
    _used: int  # takes in that window

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
        return seen is not None and 0 <= wall_clock() - seen < ABSENT_SECONDS

    def add(self, prefix: str, clock: float) -> None:
        if len(self._seen) >= MAX_ABSENT:
            self._seen = {}  # someone sends many made-up prefixes: start over, reads bound the cost
        self._seen[prefix] = clock

    def clear(self) -> None:
        self._seen = {}


# This process's state, shared by every request it answers.
_secrets = _Cache()  # key prefix -> SecretFacts | None
_targets = _Cache()  # gateway token prefix -> Target | None
_snapshot = _Snapshot()
_absent = _Absent()
_miss_reads = _Budget(MISS_READS_PER_SECOND)
