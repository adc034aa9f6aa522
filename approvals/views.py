"""The Approvals inbox (approvers of API keys) and Admin Center > API Management Connections >
Pending Requests (hub admins): the lists of what waits for a decision, and the decision itself."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from approvals import selectors, services
from approvals.forms import RejectForm, read_verdict
from credentials.connections import selectors as connection_selectors
from credentials.keys.services import ApiKeyError
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, wants_fragment
from portal.pagination import list_page
from portal.second_factor.step_up import step_up_required

PAGE_SIZE = 50  # the Approvals inbox: approvals a page


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
def connections_pending(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "pending_requests": connection_selectors.connection_request_pending_list(),
        "reject_form": RejectForm(),
        "nav_section": "admin-center",
        "admin_section": "connections-pending",
    }
    return TemplateResponse(request, "approvals/connectionrequest_pending.html", context)


@require_POST
@role_required(roles.HUB_ADMIN_PERMS)
@step_up_required
def connection_request_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, or reject with a reason, a pending connection request (in place with HTMX)."""
    connection_request = connection_selectors.connection_request_get(pk=pk)
    posted = read_verdict(request.POST)
    error = posted.error
    if not error:
        try:
            connection_request = services.connection_request_decide(
                connection_request_id=pk,
                approver=request.user,
                verdict=posted.verdict,
                comment=posted.comment,
                reviewed_version=posted.reviewed,
            )
        except services.ApprovalError as exc:
            error = str(exc)
            connection_request = connection_selectors.connection_request_get(pk=pk)  # as it is now
    if error:
        messages.error(request, error)
    else:
        messages.success(request, services.connection_outcome_message(connection_request))
    if not wants_fragment(request):
        return redirect("approvals:connections-pending")
    context = {"request_row": connection_request, "reject_form": posted.reject_form if error else RejectForm()}
    response = TemplateResponse(request, "approvals/connectionrequest_pending.html#pending-decided", context)
    response["HX-Trigger"] = "connection-request-decided"
    return response


@require_GET
@role_required(roles.APPROVER_PERMS)
@vary_on_headers("HX-Request")
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    """The Approvals inbox: one page of what waits for this approver; the same queries at any size."""
    listed = list_page(selectors.approval_inbox(user=request.user), request.GET, per_page=PAGE_SIZE)
    context = {
        "page": listed.page,
        "page_error": listed.error,
        "query": listed.query,
        "decided": selectors.approval_recent_decisions(user=request.user),
        "reject_form": RejectForm(),
        "nav_section": "approvals",
    }
    template = "approvals/approvalrequest_inbox.html"
    if wants_fragment(request):
        template += "#inbox-results"
    return TemplateResponse(request, template, context)


@require_POST
@role_required(roles.APPROVER_PERMS)
@step_up_required
def approval_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, or reject with a reason, in place. Only approvers of this request may."""
    approval = selectors.key_approval_for_decider(user=request.user, pk=pk)
    posted = read_verdict(request.POST)
    error = posted.error
    if not error:
        try:
            approval = services.approval_decide(
                approval_request_id=approval.pk,
                approver=request.user,
                verdict=posted.verdict,
                comment=posted.comment,
                reviewed_version=posted.reviewed,
            )
        except (services.ApprovalError, ApiKeyError) as exc:
            error = str(exc)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, services.key_outcome_message(approval))
    if not wants_fragment(request):
        return redirect("approvals:inbox")
    # The row as it now is. A refused decision (a rejection without a reason) leaves the request
    # pending and undecided by this approver: the buttons stay, with the reason form open.
    approval = selectors.key_approval_for_decider(user=request.user, pk=approval.pk)
    context = {
        "approval": approval,
        "reject_form": posted.reject_form if error else RejectForm(),
        "decided_now": approval.decisions.filter(approver=request.user).exists(),
    }
    response = TemplateResponse(request, "approvals/approvalrequest_inbox.html#approval-decided", context)
    response["HX-Trigger"] = "approval-decided"
    return response
