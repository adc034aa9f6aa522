from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """htmx swaps a region unless it is a boosted navigation, which wants the whole page."""
    return bool(request.htmx) and not request.htmx.boosted
