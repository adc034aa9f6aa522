from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.models import ApprovalRequest, Decision
from credentials import selectors as credential_selectors
from credentials import services as credential_services
from credentials.forms import ConnectionRequestSubmitForm, RejectForm
from credentials.models import Api
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


def read_verdict(request: HtmxHttpRequest) -> tuple[str, str, RejectForm, str]:
    """The posted verdict and its reason: (verdict, comment, reject form, error for the person)."""
    verdict = request.POST.get("verdict", "")
    reject_form = RejectForm(request.POST if verdict == Decision.Verdict.REJECT else None)
    if verdict not in Decision.Verdict.values:
        return verdict, "", reject_form, "Choose Approve or Reject."
    if verdict == Decision.Verdict.REJECT:
        if not reject_form.is_valid():
            return verdict, "", reject_form, "Give a reason for the rejection."
        return verdict, reject_form.cleaned_data["reason"], reject_form, ""
    return verdict, "", reject_form, ""


@require_POST
@role_required(roles.HUB_ADMIN_PERMS)
def connection_request_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, or reject with a reason, a pending connection request (in place with HTMX)."""
    connection_request = credential_selectors.connection_request_get(pk=pk)
    verdict, comment, reject_form, error = read_verdict(request)
    if not error:
        try:
            connection_request = services.connection_request_decide(
                connection_request_id=pk, approver=request.user, verdict=verdict, comment=comment
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


# --- API keys: request, renew, withdraw, revoke (consumers) ---------------------------------------
def _key_row_response(request: HtmxHttpRequest, api_key_id: int) -> HttpResponse:
    """htmx: the key's updated row and the messages; otherwise back to My API Keys."""
    if not wants_fragment(request):
        return redirect("credentials:my-api-keys")
    api_key = credential_selectors.api_key_of_consumer(consumer=request.user, pk=api_key_id)
    context = {"api_key": api_key, "open_key_api_ids": credential_selectors.open_key_api_ids(consumer=request.user)}
    response = TemplateResponse(request, "credentials/partials/apikey_row_updated.html", context)
    response["HX-Trigger"] = "api-key-changed"
    return response


@require_POST
@role_required(roles.CONSUMER_PERMS)
@never_cache
def api_key_request(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Ask for a key: shown once; on APIs that need approval it waits for the approvers."""
    api = get_object_or_404(Api, slug=slug)
    try:
        api_key, secret, approval = services.api_key_request(api=api, consumer=request.user)
    except (credential_services.ApiKeyError, services.ApprovalError) as exc:
        messages.error(request, str(exc))
        return redirect("credentials:api-catalog")
    context = {"api_key": api_key, "secret": secret, "approval": approval, "nav_section": "preferences"}
    return TemplateResponse(request, "credentials/apikey_secret.html", context)


@require_POST
@role_required(roles.CONSUMER_PERMS)
def api_key_renew(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """S3: Renew renews at once, or sends the renewal to the API's approvers."""
    api_key = credential_selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        api_key, approval = services.api_key_renewal_request(api_key_id=api_key.pk, consumer=request.user)
    except (credential_services.ApiKeyError, services.ApprovalError) as exc:
        messages.error(request, str(exc))
    else:
        if approval is None:
            messages.success(
                request,
                f"Your {api_key.api.name} key is renewed until {api_key.expires_at:%Y-%m-%d}. "
                "We emailed you its new validity.",
            )
        else:
            messages.info(
                request,
                f"Your renewal of the {api_key.api.name} key waits for approval by its approvers. "
                "We will email you their decision.",
            )
    return _key_row_response(request, pk)


@require_POST
@role_required(roles.CONSUMER_PERMS)
def api_key_withdraw_renewal(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    api_key = credential_selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        services.api_key_renewal_withdraw(api_key_id=api_key.pk, consumer=request.user)
    except services.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You withdrew the renewal of your {api_key.api.name} key.")
    return _key_row_response(request, pk)


@require_POST
@role_required(roles.CONSUMER_PERMS)
def api_key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    api_key = credential_selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        services.api_key_revoke(api_key_id=api_key.pk, consumer=request.user)
    except credential_services.ApiKeyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Your {api_key.api.name} key {api_key.prefix} is revoked. It no longer works.")
    return _key_row_response(request, pk)


# --- Approvals inbox (approvers) --------------------------------------------------------------------
@require_GET
@role_required(roles.APPROVER_PERMS)
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "approvals": selectors.approval_inbox(user=request.user),
        "decided": selectors.approval_recent_decisions(user=request.user),
        "reject_form": RejectForm(),
        "nav_section": "approvals",
    }
    return TemplateResponse(request, "approvals/approvalrequest_inbox.html", context)


@require_POST
@role_required(roles.APPROVER_PERMS)
def approval_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, or reject with a reason, in place. Only approvers of this request may."""
    approval = get_object_or_404(
        ApprovalRequest.objects.select_related("api_key__api", "api_key__consumer", "requested_by"),
        pk=pk,
        kind__in=[ApprovalRequest.Kind.KEY_RENEWAL, ApprovalRequest.Kind.KEY_REQUEST],
    )
    if not services.is_eligible_approver(approval, request.user) and approval.requested_by_id != request.user.pk:
        raise Http404
    verdict, comment, reject_form, error = read_verdict(request)
    if not error:
        try:
            approval = services.approval_decide(
                approval_request_id=approval.pk, approver=request.user, verdict=verdict, comment=comment
            )
        except (services.ApprovalError, credential_services.ApiKeyError) as exc:
            error = str(exc)
    if error:
        messages.error(request, error)
    else:
        outcome = {
            ApprovalRequest.Status.APPROVED: "approved: the key is renewed and the consumer is emailed"
            if approval.kind == ApprovalRequest.Kind.KEY_RENEWAL
            else "approved: the key works now and the consumer is emailed",
            ApprovalRequest.Status.REJECTED: "rejected: the consumer is emailed your reason",
        }.get(approval.status, "recorded: it waits for the other approvers")
        messages.success(request, f"{approval.get_kind_display()} for {approval.api_key.api.name} {outcome}.")
    if not wants_fragment(request):
        return redirect("approvals:inbox")
    approval = ApprovalRequest.objects.select_related("api_key__api", "api_key__consumer", "requested_by").get(
        pk=approval.pk
    )
    # The row as it now is. A refused decision (a rejection without a reason) leaves the request
    # pending and undecided by this approver: the buttons stay, with the reason form open.
    context = {
        "approval": approval,
        "reject_form": reject_form if error else RejectForm(),
        "decided_now": approval.decisions.filter(approver=request.user).exists(),
    }
    response = TemplateResponse(request, "approvals/partials/approval_decided.html", context)
    response["HX-Trigger"] = "approval-decided"
    return response
