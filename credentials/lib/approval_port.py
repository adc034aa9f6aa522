"""The approvals port: how credentials asks for an approval without importing the approvals app.

Credentials says what it needs (open an approval for this key or connection request, is one
waiting, cancel what waits); the approvals app fills it in from its `AppConfig.ready()`
(`approvals.apps`). Every call runs inside the caller's transaction, after the caller has locked
its subject row.
"""

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from portal.models import User

# What an approval is for.
CONNECTION_REQUEST = "connection_request"
KEY_REQUEST = "key_request"
KEY_RENEWAL = "key_renewal"


class ApprovalRefused(Exception):
    """An approval could not be opened (nobody could decide it); the message is for people."""


class Approval(Protocol):
    """What credentials may know of an approval: that it exists."""

    pk: int


class ApprovalPort(Protocol):
    def open(self, *, kind: str, subject: Model, requested_by: User) -> Approval:
        """Open an approval of `subject` (an ApiKey or a ConnectionRequest) for its approvers
        (audited, approvers emailed). Raises ApprovalRefused when nobody could decide it."""
        ...

    def waiting(self, *, subject: Model) -> Approval | None:
        """The approval of `subject` that waits for a decision, if any."""
        ...

    def cancel(self, *, subject: Model, actor: User, why: str) -> int:
        """Cancel whatever waits for a decision about `subject` (audited); returns how many."""
        ...


_port: ApprovalPort | None = None


def register(port: ApprovalPort) -> None:
    """Called once by the approvals app when Django starts."""
    global _port  # noqa: PLW0603 - the one place that sets it
    _port = port


def approvals() -> ApprovalPort:
    if _port is None:
        raise ImproperlyConfigured("No approvals app is installed to fill credentials' approval port.")
    return _port
