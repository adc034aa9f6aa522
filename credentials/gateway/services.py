"""The verdict on a presented key: the gateway's token, the key's shape and checksum, then its facts
(from this process's snapshot, or one read). See docs/gateway.md."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from credentials.gateway.last_used import last_used
from credentials.gateway.snapshot import (
    SecretFacts,
    _absent,
    _miss_reads,
    _read_secret,
    _secrets,
    _snapshot,
    _targets,
    wall_clock,
)
from credentials.keys.models import ApiKey, RuntimeTarget
from credentials.lib import crypto
from credentials.lib.hot_reads import autocommit_read

TOKEN_KIND = "gw"  # noqa: S105 - the kind of Portico secret, not a secret


KEY_KIND = "key"


class Reason(StrEnum):
    UNKNOWN = "unknown"  # no such key, a wrong secret, or a key for another API or gateway
    MALFORMED = "malformed"  # not a Portico key: wrong shape or checksum (no database read)
    EXPIRED = "expired"
    REVOKED = "revoked"
    ROTATED_OUT = "rotated-out"  # an old secret of a rotated key, after its grace period
    INACTIVE = "inactive"  # pending approval, or its issue was rejected
    DISABLED = "disabled"  # its consumer, or the consumer's organization, is deactivated


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
    now = wall_clock()
    hit, target = _targets.get(prefix, now)
    if not hit:
        target = autocommit_read(lambda: _read_target(prefix))
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
    if not facts.account_active:
        return Verdict(Reason.DISABLED, facts)
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
    clock = wall_clock()
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
