from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from approvals import services
from approvals.models import Decision
from credentials import selectors as credential_selectors
from credentials import services as credential_services
from credentials.forms import ConnectionRequestSubmitForm, RejectForm
from credentials.views import connectivity_context, test_failed_error, user_organization
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, wants_fragment


@require_POST
@sensitive_post_parameters("credentials")
@role_required(roles.TENANT_ADMIN_PERMS)
def connection_request_submit(request: HtmxHttpRequest) -> HttpResponse:
    """Submit a new connection request; it waits for a hub admin's approval."""
    organization = user_organization(request)
    form = ConnectionRequestSubmitForm(request.POST, organization=organization)
    show_skip_test = False
    if form.is_valid():
        try:
            check = credential_services.credentials_test(
                credentials=form.cleaned_data["credentials"], skip=form.cleaned_data["skip_test"]
            )
            connection_request = services.connection_request_submit(
                tenant=form.cleaned_data["tenant"],
                credentials=form.cleaned_data["credentials"],
                generated_at=form.cleaned_data["generated_on"],
                submitted_by=request.user,
                check=check,
            )
        except credential_services.CredentialTestFailed as exc:
            form.add_error("credentials", test_failed_error(exc))
            show_skip_test = True
        except credential_services.ConnectionRequestError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Your connection request for {connection_request.tenant.alias} is submitted. "
                "A hub admin will approve or reject it; you will get an email.",
            )
            return redirect("credentials:connectivity")
    context = connectivity_context(request, submit_form=form)
    context["show_skip_test"] = show_skip_test
    context["open_submit_form"] = True
    return TemplateResponse(request, "credentials/connectionrequest_list.html", context)


@require_POST
@role_required(roles.HUB_ADMIN_PERMS)
def connection_request_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, or reject with a reason, a pending connection request (in place with HTMX)."""
    connection_request = credential_selectors.connection_request_get(pk=pk)
    verdict = request.POST.get("verdict")
    reject_form = RejectForm(request.POST if verdict == Decision.Verdict.REJECT else None)
    error = ""
    if verdict not in Decision.Verdict.values:
        error = "Choose Approve or Reject."
    elif verdict == Decision.Verdict.REJECT and not reject_form.is_valid():
        error = "Give a reason for the rejection."
    else:
        try:
            connection_request = services.connection_request_decide(
                connection_request_id=pk,
                approver=request.user,
                verdict=verdict,
                comment=reject_form.cleaned_data["reason"] if verdict == Decision.Verdict.REJECT else "",
            )
        except services.ApprovalError as exc:
            error = str(exc)
            connection_request = credential_selectors.connection_request_get(pk=pk)
    if error:
        messages.error(request, error)
    else:
        verb = "approved" if verdict == Decision.Verdict.APPROVE else "rejected"
        messages.success(request, f"The connection request of {connection_request.tenant.alias} is {verb}.")
    if wants_fragment(request):
        context = {"request_row": connection_request, "reject_form": reject_form if error else RejectForm()}
        response = TemplateResponse(request, "credentials/partials/pending_decided.html", context)
        response["HX-Trigger"] = "connection-request-decided"
        return response
    return redirect("credentials:connections-pending")
