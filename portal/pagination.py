"""Pages of a long list: Django's Paginator, read from the `page` query parameter, with a message
for a page number that is not one (instead of a silent first page, or a 404 or 500)."""

from dataclasses import dataclass

from django.core.paginator import InvalidPage, Page, Paginator
from django.db.models import QuerySet
from django.http import QueryDict


@dataclass(frozen=True)
class ListPage:
    page: Page
    query: str  # the request's other query parameters (search, sort), for the Previous and Next links
    error: str  # for the person, when the page asked for is not a page of the list


def list_page(items: QuerySet, params: QueryDict, *, per_page: int) -> ListPage:
    """The page of `items` that `params` asks for: two queries (the count, the page's rows) however
    long the list. Its order must be total (end it with the primary key) for pages not to overlap."""
    paginator = Paginator(items, per_page)
    number = params.get("page") or "1"
    error = ""
    try:
        page = paginator.page(number)
    except InvalidPage:
        page = paginator.page(1)
        shown = number if len(number) <= 20 else number[:20] + "…"
        error = f"There is no page “{shown}” of this list (pages 1 to {paginator.num_pages}). Here is the first page."
    others = params.copy()
    others.pop("page", None)
    return ListPage(page=page, query=others.urlencode(), error=error)
