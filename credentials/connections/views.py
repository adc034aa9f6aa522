"""Manage > Establish API Portal Connectivity (tenant admins: register a tenant, submit a connection
request, Edit Credentials) and Admin Center > API Management Connections > Approved Requests with
Re-establish Connection (hub admins). Pending Requests and deciding belong to approvals."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, trigger_client_event

from credentials.connections import selectors, services
from credentials.connections.forms import (
    ApprovedRequestsFilterForm,
    ConnectionRequestSubmitForm,
    CredentialsForm,
    TenantForm,
)
from credentials.connections.models import ConnectionRequest
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, user_organization, wants_fragment
from portal.pagination import list_page

EDIT_SUCCESS = "You've updated the API Portal access credentials successfully."
REESTABLISH_SUCCESS = "You've updated the SAP Integration Suite API Management tenant access credentials successfully."
PAGE_SIZE = 25  # Approved Requests: rows a page
PASTE_FEEDBACK = "credentials/partials/credentials_fields.html#paste-feedback"
PASTE_REFUSED = "paste-refused"  # the event static/js/portal.js listens to


def connectivity_context(
    request: HtmxHttpRequest,
    *,
    submit_form: ConnectionRequestSubmitForm | None = None,
    tenant_form: TenantForm | None = None,
) -> dict[str, object]:
    """Everything the Establish API Portal Connectivity page shows (also re-rendered on errors)."""
    organization = user_organization(request)
    return {
        "nav_section": "manage",
        "connection_requests": selectors.connection_request_list(organization=organization),
        "tenants": selectors.tenant_list(organization=organization),
        "submit_form": submit_form or ConnectionRequestSubmitForm(organization=organization),
        "tenant_form": tenant_form or TenantForm(),
    }


@require_GET
@role_required(roles.TENANT_ADMIN_PERMS)
def connectivity(request: HtmxHttpRequest) -> HttpResponse:
    return TemplateResponse(request, "credentials/connectionrequest_list.html", connectivity_context(request))


@require_POST
@role_required(roles.TENANT_ADMIN_PERMS)
def tenant_register(request: HtmxHttpRequest) -> HttpResponse:
    organization = user_organization(request)
    form = TenantForm(request.POST)
    if form.is_valid():
        try:
            tenant = services.tenant_register(
                organization=organization,
                alias=form.cleaned_data["alias"],
                url=form.cleaned_data["url"],
                registered_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"The API portal {tenant.alias} is registered. You can now request its connection."
            )
            return redirect("credentials:connectivity")
    context = connectivity_context(request, tenant_form=form)
    return TemplateResponse(request, "credentials/connectionrequest_list.html", context)


def test_failed_error(exc: services.CredentialTestFailed) -> str:
    reason = str(exc) if str(exc).endswith(".") else f"{exc}."  # 'It said: "..."' ends without one
    return (
        f"The connection test failed: {reason} Correct the credentials, or choose "
        "“Save without testing the connection” to save them anyway."
    )


def paste_refused(request: HtmxHttpRequest, context: dict[str, object], template: str = PASTE_FEEDBACK) -> HttpResponse:
    """The htmx answer to a refused paste or a failed connection test: the error regions and the
    "Save without testing the connection" choice only, swapped out of band, and no main swap. The
    credentials box is not in it, so the browser keeps what was pasted and no pasted secret travels
    back; the event lets the page mark the fields invalid and move the focus to the first."""
    response = TemplateResponse(request, template, context)
    trigger_client_event(response, PASTE_REFUSED, after="settle")
    return reswap(response, "none")


@sensitive_variables()
def _save_pasted(
    request: HtmxHttpRequest, form: CredentialsForm, context: dict[str, object], *, pk: int, reestablish: bool
) -> ConnectionRequest | None:
    """Edit Credentials or Re-establish Connection with the pasted credentials; on failure the form
    carries the error (and the page offers "Save without testing") and None is returned."""
    save = services.connection_request_reestablish if reestablish else services.connection_request_update_credentials
    try:
        return save(
            connection_request_id=pk,
            credentials=form.cleaned_data["credentials"],
            generated_at=form.cleaned_data["generated_on"],
            updated_by=request.user,
            skip_test=form.cleaned_data["skip_test"],
        )
    except services.CredentialTestFailed as exc:
        form.add_error("credentials", test_failed_error(exc))
        context["show_skip_test"] = True
    except services.ConnectionRequestError as exc:
        form.add_error(None, str(exc))
    return None


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("credentials")
@role_required(roles.TENANT_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def connection_request_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """S1: Edit Credentials, in place (HTMX dialog) or as a page; only while submitted."""
    organization = user_organization(request)
    connection_request = selectors.connection_request_of_organization(organization=organization, pk=pk)
    in_dialog = wants_fragment(request)
    template = (
        "credentials/connectionrequest_edit_modal.html" if in_dialog else "credentials/connectionrequest_edit.html"
    )
    context: dict[str, object] = {"connection_request": connection_request, "nav_section": "manage"}
    if not connection_request.is_editable:
        refusal = services.not_editable_message(connection_request)
        if in_dialog:
            return TemplateResponse(request, template, {**context, "refusal": refusal})
        messages.error(request, refusal)
        return redirect("credentials:connectivity")
    # The dialog opens over the page's own New connection request form: ids of their own, or the
    # dialog's labels would point at that form's fields.
    form = CredentialsForm(request.POST or None, auto_id="edit_%s")
    context.update(form=form, in_dialog=in_dialog)
    if request.method == "POST" and form.is_valid():
        saved = _save_pasted(request, form, context, pk=connection_request.pk, reestablish=False)
        if saved is not None:
            messages.success(request, EDIT_SUCCESS)
            if in_dialog:
                connection_request = selectors.connection_request_of_organization(organization=organization, pk=pk)
                return TemplateResponse(
                    request,
                    "credentials/connectionrequest_edit_modal.html#edit-saved",
                    {"connection_request": connection_request},
                )
            return redirect("credentials:connectivity")
    if request.method == "POST" and in_dialog:
        return paste_refused(request, context)
    return TemplateResponse(request, template, context)


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def connections_approved(request: HtmxHttpRequest) -> HttpResponse:
    """Approved Requests: the same queries at any number of rows (the count and one page)."""
    form = ApprovedRequestsFilterForm(request.GET or None)
    requests = selectors.connection_request_approved_list(q=form.search(), ordering=form.ordering())
    listed = list_page(requests, request.GET, per_page=PAGE_SIZE)
    sort_query = request.GET.copy()
    sort_query.pop("sort", None)
    sort_query.pop("page", None)
    context = {
        "form": form,
        "page": listed.page,
        "page_error": listed.error,
        "query": listed.query,
        "sort_query": sort_query.urlencode(),
        "current_sort": form.sort_key(),
        "nav_section": "admin-center",
        "admin_section": "connections-approved",
    }
    template = "credentials/connectionrequest_approved.html"
    if wants_fragment(request):
        template += "#approved-results"
    return TemplateResponse(request, template, context)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("credentials")
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def connection_reestablish(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """S2: Re-establish Connection with fresh credentials; htmx keeps the paste on errors."""
    connection_request = selectors.connection_request_get(pk=pk, status=ConnectionRequest.Status.APPROVED)
    form = CredentialsForm(request.POST or None)
    context: dict[str, object] = {
        "connection_request": connection_request,
        "nav_section": "admin-center",
        "admin_section": "connections-approved",
    }
    if request.method == "POST" and form.is_valid():
        saved = _save_pasted(request, form, context, pk=connection_request.pk, reestablish=True)
        if saved is not None:
            messages.success(request, REESTABLISH_SUCCESS)
            approved = reverse("credentials:connections-approved") + f"#request-{connection_request.pk}"
            return HttpResponseClientRedirect(approved) if wants_fragment(request) else redirect(approved)
    context["form"] = form
    if request.method == "POST" and wants_fragment(request):
        return paste_refused(request, context)
    return TemplateResponse(request, "credentials/connectionrequest_reestablish.html", context)


@require_POST
@sensitive_post_parameters("credentials")
@role_required(roles.TENANT_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def connection_request_submit(request: HtmxHttpRequest) -> HttpResponse:
    """Submit a new connection request; it waits for a hub admin's approval. htmx keeps the paste
    on errors."""
    organization = user_organization(request)
    form = ConnectionRequestSubmitForm(request.POST, organization=organization)
    show_skip_test = False
    if form.is_valid():
        try:
            connection_request = services.connection_request_submit(
                tenant=form.cleaned_data["tenant"],
                credentials=form.cleaned_data["credentials"],
                generated_at=form.cleaned_data["generated_on"],
                submitted_by=request.user,
                skip_test=form.cleaned_data["skip_test"],
            )
        except services.CredentialTestFailed as exc:
            form.add_error("credentials", test_failed_error(exc))
            show_skip_test = True
        except services.ConnectionRequestError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Your connection request for {connection_request.tenant.alias} is submitted. "
                "A hub admin will approve or reject it; you will get an email.",
            )
            if wants_fragment(request):
                return HttpResponseClientRedirect(reverse("credentials:connectivity"))
            return redirect("credentials:connectivity")
    if wants_fragment(request):
        feedback = {"form": form, "show_skip_test": show_skip_test}
        return paste_refused(request, feedback, "credentials/connectionrequest_list.html#submit-feedback")
    context = connectivity_context(request, submit_form=form)
    context["show_skip_test"] = show_skip_test
    return TemplateResponse(request, "credentials/connectionrequest_list.html", context)
