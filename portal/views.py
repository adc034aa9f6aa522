from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from portal import roles
from portal.decorators import role_required
from portal.forms import AuditFilterForm
from portal.http import HtmxHttpRequest, wants_fragment
from portal.models import OutboundEmail
from portal.second_factor.views import preferences_page
from portal.selectors import audit_action_choices, audit_event_list, outbound_email_list, outbox_owed


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"nav_section": "home"})


@require_GET
@login_required
def user_preferences(request: HtmxHttpRequest) -> HttpResponse:
    # The page, with the Second factor section for hub admins and approvers (portal/second_factor/).
    return preferences_page(request)


@require_GET
@role_required(roles.TENANT_ADMIN_PERMS)
def manage(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "portal/manage.html", {"nav_section": "manage"})


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def email_outbox(request: HtmxHttpRequest) -> HttpResponse:
    """Admin Center > Emails: the outbox, newest first, filterable by state."""
    state = request.GET.get("state", "")
    emails = outbound_email_list(state=state)
    page = Paginator(emails, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "state": state,
        "states": OutboundEmail.State.choices,
        "owed": outbox_owed(),
        "query": query.urlencode(),
        "admin_section": "emails",
        "nav_section": "admin-center",
    }
    template = "portal/outboundemail_list.html"
    if wants_fragment(request):
        template += "#email-results"
    return TemplateResponse(request, template, context)


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None, actions=audit_action_choices())
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_event_list(**{k: v for k, v in filters.items() if v})
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "admin_section": "audit",
        "nav_section": "admin-center",
    }
    template = "portal/audit_log.html#audit-results" if wants_fragment(request) else "portal/audit_log.html"
    return TemplateResponse(request, template, context)
