from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from credentials.connections import selectors as connection_selectors
from credentials.expiry import dashboard
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
def admin_dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """Admin Center: what expires in the next 90 days, by week, and the soonest of it."""
    weeks = dashboard.expiry_weeks()
    context = {
        "chart": dashboard.expiry_chart(weeks),
        # A phone's drawing: as wide as a phone's screen, so its type stays readable.
        "narrow_chart": dashboard.expiry_chart(weeks, width=360, height=260),
        "weeks": weeks,
        "key_total": sum(w.keys for w in weeks),
        "connection_total": sum(w.connections for w in weeks),
        "soonest_keys": dashboard.soonest_keys(),
        "soonest_connections": dashboard.soonest_connections(),
        "pending_count": connection_selectors.connection_request_pending_list().count(),
        "admin_section": "dashboard",
        "nav_section": "admin-center",
    }
    return TemplateResponse(request, "portal/admin_center.html", context)
