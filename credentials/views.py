from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from credentials import dashboard, selectors, services
from credentials.forms import (
    ApprovedRequestsFilterForm,
    ConnectionRequestSubmitForm,
    CredentialsForm,
    RejectForm,
    RotateForm,
    TenantForm,
)
from credentials.models import ConnectionRequest
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, wants_fragment
from portal.models import Organization

EDIT_SUCCESS = "You've updated the API Portal access credentials successfully."
REESTABLISH_SUCCESS = "You've updated the SAP Integration Suite API Management tenant access credentials successfully."


def user_organization(request: HtmxHttpRequest) -> Organization:
    if request.user.organization is None:
        raise PermissionDenied("You are not a member of an organization.")
    return request.user.organization


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


@sensitive_variables()
def save_pasted_credentials(
    request: HtmxHttpRequest,
    form: CredentialsForm,
    context: dict[str, object],
    write: Callable[..., ConnectionRequest],
    connection_request_id: int,
) -> ConnectionRequest | None:
    """Test the pasted credentials against their token URL (unless skipped), then store them with
    `write` (edit or re-establish). On failure the form carries the error and None is returned."""
    try:
        check = services.credentials_test(
            credentials=form.cleaned_data["credentials"], skip=form.cleaned_data["skip_test"]
        )
        return write(
            connection_request_id=connection_request_id,
            credentials=form.cleaned_data["credentials"],
            generated_at=form.cleaned_data["generated_on"],
            updated_by=request.user,
            check=check,
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
    template = (
        "credentials/connectionrequest_edit_modal.html"
        if wants_fragment(request)
        else "credentials/connectionrequest_edit.html"
    )
    context: dict[str, object] = {"connection_request": connection_request, "nav_section": "manage"}
    if not connection_request.is_editable:
        refusal = (
            f"This connection request is {connection_request.get_status_display().lower()}: "
            "its credentials can no longer be edited."
        )
        if wants_fragment(request):
            return TemplateResponse(request, template, {**context, "refusal": refusal})
        messages.error(request, refusal)
        return redirect("credentials:connectivity")
    # The dialog opens over the page's own New connection request form: ids of their own, or the
    # dialog's labels would point at that form's fields.
    form = CredentialsForm(request.POST or None, auto_id="edit_%s")
    if request.method == "POST" and form.is_valid():
        saved = save_pasted_credentials(
            request, form, context, services.connection_request_update_credentials, connection_request.pk
        )
        if saved is not None:
            messages.success(request, EDIT_SUCCESS)
            if wants_fragment(request):
                connection_request = selectors.connection_request_of_organization(organization=organization, pk=pk)
                return TemplateResponse(
                    request,
                    "credentials/connectionrequest_edit_modal.html#edit-saved",
                    {"connection_request": connection_request},
                )
            return redirect("credentials:connectivity")
    context["form"] = form
    return TemplateResponse(request, template, context)


# --- Admin Center > API Management Connections ---------------------------------------------------
@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
def connections_pending(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "pending_requests": selectors.connection_request_pending_list(),
        "reject_form": RejectForm(),
        "nav_section": "admin-center",
        "admin_section": "connections-pending",
    }
    return TemplateResponse(request, "credentials/connectionrequest_pending.html", context)


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def connections_approved(request: HtmxHttpRequest) -> HttpResponse:
    form = ApprovedRequestsFilterForm(request.GET or None)
    q = form.cleaned_data.get("q", "") if form.is_valid() else ""
    requests = selectors.connection_request_approved_list(q=q, ordering=form.ordering())
    page = Paginator(requests, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = request.GET.copy()
    sort_query.pop("sort", None)
    sort_query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": (form.cleaned_data.get("sort") if form.is_valid() else "") or "-approved",
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
def connection_reestablish(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """S2: Re-establish Connection with fresh credentials."""
    connection_request = selectors.connection_request_get(pk=pk, status=ConnectionRequest.Status.APPROVED)
    form = CredentialsForm(request.POST or None)
    context: dict[str, object] = {
        "connection_request": connection_request,
        "nav_section": "admin-center",
        "admin_section": "connections-approved",
    }
    if request.method == "POST" and form.is_valid():
        saved = save_pasted_credentials(
            request, form, context, services.connection_request_reestablish, connection_request.pk
        )
        if saved is not None:
            messages.success(request, REESTABLISH_SUCCESS)
            return redirect(reverse("credentials:connections-approved") + f"#request-{connection_request.pk}")
    context["form"] = form
    return TemplateResponse(request, "credentials/connectionrequest_reestablish.html", context)


# --- API catalog and My API Keys (consumers) ------------------------------------------------------
@require_GET
@role_required(roles.CONSUMER_PERMS)
def api_catalog(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "apis": selectors.api_catalog(),
        "open_key_api_ids": selectors.open_key_api_ids(consumer=request.user),
        "nav_section": "apis",
    }
    return TemplateResponse(request, "credentials/api_catalog.html", context)


def my_api_keys_context(request: HtmxHttpRequest) -> dict[str, object]:
    return {
        "api_keys": selectors.api_key_list(consumer=request.user),
        # A revoked or rejected key offers "Request a new key" unless its API has an open one.
        "open_key_api_ids": selectors.open_key_api_ids(consumer=request.user),
        "nav_section": "preferences",
    }


@require_GET
@role_required(roles.CONSUMER_PERMS)
@vary_on_headers("HX-Request")
def my_api_keys(request: HtmxHttpRequest) -> HttpResponse:
    template = "credentials/apikey_mine.html"
    if wants_fragment(request):
        template += "#key-table"
    return TemplateResponse(request, template, my_api_keys_context(request))


@require_http_methods(["GET", "POST"])
@role_required(roles.CONSUMER_PERMS)
@never_cache
def api_key_rotate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Rotate: a new secret shown once; the old one works for the grace period chosen."""
    api_key = selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key, secret = services.api_key_rotate(
                api_key_id=api_key.pk, rotated_by=request.user, grace=timedelta(seconds=form.cleaned_data["grace"])
            )
        except services.ApiKeyError as exc:
            form.add_error(None, str(exc))
        else:
            return TemplateResponse(
                request,
                "credentials/apikey_secret.html",
                {"api_key": api_key, "secret": secret, "rotated": True, "nav_section": "preferences"},
            )
    context = {
        "api_key": api_key,
        "form": form,
        "grace_secrets": selectors.key_secret_grace_list(api_key=api_key),
        "nav_section": "preferences",
    }
    return TemplateResponse(request, "credentials/apikey_rotate.html", context)


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
def admin_dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """Admin Center: what expires in the next 90 days, by week, and the soonest of it."""
    weeks = dashboard.expiry_weeks()
    context = {
        "chart": dashboard.expiry_chart(weeks),
        "weeks": weeks,
        "key_total": sum(w.keys for w in weeks),
        "connection_total": sum(w.connections for w in weeks),
        "soonest_keys": dashboard.soonest_keys(),
        "soonest_connections": dashboard.soonest_connections(),
        "pending_count": selectors.connection_request_pending_list().count(),
        "admin_section": "dashboard",
        "nav_section": "admin-center",
    }
    return TemplateResponse(request, "portal/admin_center.html", context)
