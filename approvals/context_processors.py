"""What the header shows of the approvals app: how many approvals wait for this approver."""

import functools

from django.http import HttpRequest

from approvals import selectors
from portal import roles


def waiting_approvals(request: HttpRequest) -> dict[str, object]:
    """`approvals_waiting`: the approvals this user may decide and has not, counted only when a
    template shows it (one query; htmx fragments without the header cost nothing). A template
    calls a callable it is given, and the cache makes that one query however often it shows."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perms(roles.APPROVER_PERMS):
        return {}
    return {"approvals_waiting": functools.cache(lambda: selectors.approval_inbox(user=user).count())}
