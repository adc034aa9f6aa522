from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from portal.models import Organization, User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User  # views behind login_required or role_required see a signed-in user


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """htmx swaps a region unless it is a boosted navigation, which wants the whole page."""
    return bool(request.htmx) and not request.htmx.boosted


def user_organization(request: HtmxHttpRequest) -> Organization:
    """The signed-in user's organization; 403 for a user who belongs to none."""
    if request.user.organization is None:
        raise PermissionDenied("You are not a member of an organization.")
    return request.user.organization
