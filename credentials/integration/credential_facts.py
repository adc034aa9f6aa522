"""What a process knows of API credentials between database reads: each credential's facts (its
secret's digest and version, its scopes and role, whether its organization is active), at most
CACHE_SECONDS old.

POST /oauth/token and every bearer-authenticated request need these facts. Reading them is a query
over three tables; each process keeps what it read for at most a second. So a changed secret, a
deleted credential, a demoted role or a deactivated organization is seen by every process within a
second of its commit, without a query per request. The services that make those changes also
forget the credential in their own process at once (`forget_now_and_on_commit`).
"""

import functools
import time
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from credentials.integration.models import ApiCredential, Role
from credentials.lib.hot_reads import aware, fetch_one

# The revocation promise: what a process read of a credential is used for at most this many
# seconds. A setting may shorten it, never lengthen it.
CACHE_SECONDS = min(float(getattr(settings, "PORTICO_OAUTH_CACHE_SECONDS", 1.0)), 1.0)


# Entries live a second; past this many, the stale ones are dropped (all of them if that is not enough).
MAX_CACHED = 10_000


def wall_clock() -> float:
    # Wall-clock seconds, not time.monotonic(), so tests can move it with time_machine. A clock that
    # jumps backwards makes entries look stale (see _fresh), never fresher than they are.
    return time.time()


def _fresh(fetched_at: float, now: float) -> bool:
    return 0 <= now - fetched_at < CACHE_SECONDS


class CredentialFacts(NamedTuple):
    """One API credential as the token endpoint and bearer authentication need it (ApiCredential ⨝
    Role ⨝ Organization). The digest is a keyed hash, never a secret."""

    credential_id: int
    public_id: str
    client_id: str
    name: str
    mode: str
    confidential: bool
    secret_digest: str
    secret_version: int
    scopes: str  # what its tokens may be given (its role's scopes when the role was set)
    expires_in: int
    last_used_at: datetime | None
    role_public_id: str
    role_name: str
    role_kind: str
    organization_id: int
    organization_slug: str
    organization_name: str
    organization_active: bool

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def role_scopes(self) -> list[str]:
        """What the role allows now; a token does only what it was given and its role still allows."""
        return Role.SCOPES[Role.Kind(self.role_kind)].split()


_FIELDS = (
    "id",
    "public_id",
    "client_id",
    "name",
    "mode",
    "confidential",
    "secret_digest",
    "secret_version",
    "scopes",
    "expires_in",
    "last_used_at",
    "role__public_id",
    "role__name",
    "role__kind",
    "organization_id",
    "organization__slug",
    "organization__name",
    "organization__is_active",
)


@functools.cache
def _facts_sql() -> str:
    """The SQL of the read, built by the ORM once per process; only the client ID changes.

    Building a query with joins costs the ORM more than running it does, on every call; this keeps
    the ORM's SQL (it follows the models) without paying for it per request. Served by the unique
    index on ApiCredential.client_id.
    """
    query = ApiCredential.objects.filter(client_id="").order_by().values_list(*_FIELDS)[:1].query
    sql, params = query.sql_with_params()
    if list(params) != [""]:
        raise ImproperlyConfigured(f"Unexpected parameters in the API credential query: {params!r}")
    return sql


def read_facts(client_id: str) -> CredentialFacts | None:
    """The credential's facts as the database has them now (one query), or None for no such client."""
    row = fetch_one(_facts_sql(), [client_id])
    if row is None:
        return None
    facts = CredentialFacts(*row)
    return facts._replace(last_used_at=aware(facts.last_used_at))


class _Cache:
    """Facts by client ID, each entry at most CACHE_SECONDS old. Only credentials that exist are
    kept: an unknown client ID is asked again each time, so a credential made a moment ago on
    another process works at once.

    Entries are replaced whole (dict assignment is atomic under the GIL); two threads missing at
    once both read the database, which is harmless.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, CredentialFacts]] = {}

    def get(self, client_id: str, now: float) -> CredentialFacts | None:
        entry = self._entries.get(client_id)
        return entry[1] if entry is not None and _fresh(entry[0], now) else None

    def put(self, client_id: str, facts: CredentialFacts, fetched_at: float) -> None:
        if len(self._entries) >= MAX_CACHED:
            # list(): a snapshot, as another thread (gthread workers) may add entries meanwhile.
            self._entries = {key: e for key, e in list(self._entries.items()) if _fresh(e[0], fetched_at)}
            if len(self._entries) >= MAX_CACHED:
                self._entries = {}
        self._entries[client_id] = (fetched_at, facts)

    def replace(self, client_id: str, facts: CredentialFacts) -> None:
        """The same entry with other facts of this process's own making, as old as it was."""
        entry = self._entries.get(client_id)
        if entry is not None:
            self._entries[client_id] = (entry[0], facts)

    def forget(self, client_id: str) -> None:
        self._entries.pop(client_id, None)

    def clear(self) -> None:
        self._entries = {}


_cache = _Cache()


def facts_for(client_id: str) -> CredentialFacts | None:
    """The credential's facts, from this process's cache when read less than CACHE_SECONDS ago."""
    # Taken before the read: an entry never counts as fresher than the database state it may show.
    now = wall_clock()
    facts = _cache.get(client_id, now)
    if facts is None:
        facts = read_facts(client_id)
        if facts is not None:
            _cache.put(client_id, facts, now)
    return facts


def note_used(client_id: str, facts: CredentialFacts, used_at: datetime) -> None:
    """Keep the last use this process just wrote, so it does not write it again before the next read."""
    _cache.replace(client_id, facts._replace(last_used_at=used_at))


def forget_now_and_on_commit(client_id: str) -> None:
    """For the services that change a credential: this process forgets its facts at once, and again
    when the change commits (another thread may have read the old ones in between). Other
    processes see the change when their entry is CACHE_SECONDS old."""
    _cache.forget(client_id)
    transaction.on_commit(lambda: _cache.forget(client_id))


def reset() -> None:
    """Forget everything (tests)."""
    _cache.clear()
