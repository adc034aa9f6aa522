"""The append-only audit log: `record()` writes one event in the caller's transaction.

Services call `record()` inside their `transaction.atomic()` block, so an event exists exactly when
the change it describes was committed. Who acted and from which address come from the request
(set by AuditContextMiddleware) unless the caller names them, so services need no request object.
"""

import contextvars
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from portal.models import AuditEvent, Organization, User

# Portico's own secret formats (see credentials.lib.crypto) and PEM blocks: never in an audit line.
# A verified secret is prt_<kind>_<lookup>_<secret><checksum>: the public prefix prt_<kind>_<lookup>
# may be logged, anything carrying 16 or more characters of the secret part after it may not.
_SECRET_PATTERNS = re.compile(
    r"prt_[a-z]+_(?:[0-9A-Za-z]+_)?[0-9A-Za-z]{16,}"
    r"|-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----"
    r"|gAAAAA[0-9A-Za-z_-]{20,}"
)


class SecretInAuditSummary(ValueError):
    pass


@dataclass(frozen=True)
class AuditContext:
    actor: User | None
    ip_address: str | None


_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


def _normalised(candidate: str) -> str | None:
    try:
        return str(ipaddress.ip_address(candidate.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind PORTICO_TRUSTED_PROXY_COUNT proxies the
    X-Forwarded-For entry that many hops from the right.

    Each of our proxies appends the address it was reached from, so the rightmost N entries are
    theirs and the Nth from the right is the address the first of them saw; anything left of it
    was written by the client and proves nothing. A request with fewer entries did not come
    through every proxy, and an entry that is not an address is no answer: both fall back to
    REMOTE_ADDR. The audit log, the token endpoint's limiter and the login throttle (django-axes)
    all take the address from here.
    """
    remote = _normalised(request.META.get("REMOTE_ADDR", ""))
    hops = settings.PORTICO_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if not entries[0].strip() or len(entries) < hops:
        return remote
    return _normalised(entries[-hops]) or remote


class AuditContextMiddleware:
    """Makes the requesting user and address available to `record()` for this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        token = _context.set(AuditContext(actor=actor, ip_address=client_ip(request)))
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)


def record(
    *,
    action: str,
    target: models.Model | None = None,
    summary: str = "",
    actor: User | None = None,
    organization: Organization | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one audit event. Must run inside the transaction of the change it records.

    Raises SecretInAuditSummary if the summary looks like it carries a secret.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must run inside the transaction of the change it records")
    if _SECRET_PATTERNS.search(summary):
        raise SecretInAuditSummary("An audit summary must not contain secret material.")
    context = _context.get()
    if actor is None and context is not None:
        actor = context.actor
    if ip_address is None and context is not None:
        ip_address = context.ip_address
    if organization is None:
        organization = getattr(target, "organization", None) if target is not None else None
        if not isinstance(organization, Organization):
            organization = getattr(actor, "organization", None)
    return AuditEvent.objects.create(
        actor=actor,
        actor_username=actor.get_username() if actor else "",
        organization=organization,
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        ip_address=ip_address,
        summary=summary[:500],
    )
