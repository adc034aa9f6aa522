"""Account > Integration > Connection API Credentials (S4), for organization admins.

Add Secret is a two-step wizard in a dialog (Short Description and role, *Next*, optional Client
Secret, *Done*), then the new client ID and secret are shown once. The pencil icon edits the short
description, the role and the secret; the client ID never changes. Each action works in place
with htmx and as plain pages without it.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from credentials.integration import selectors, services
from credentials.integration.forms import (
    ApiCredentialAddForm,
    ApiCredentialDescribeForm,
    ApiCredentialEditForm,
    forged_client_id,
)
from credentials.integration.models import ApiCredential
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, user_organization, wants_fragment
from portal.models import Organization

LIST_TEMPLATE = "credentials/apicredential_list.html"
ADD_MODAL = "credentials/apicredential_add_modal.html"
EDIT_MODAL = "credentials/apicredential_edit_modal.html"
DELETE_MODAL = "credentials/apicredential_delete_modal.html"
CLIENT_ID_IMMUTABLE = "The client ID cannot be changed. Add new credentials if you need another client ID."


def _base_context(**extra: object) -> dict[str, object]:
    return {"nav_section": "account", **extra}


def list_context(request: HtmxHttpRequest, organization: Organization) -> dict[str, object]:
    """Everything the Connection API Credentials page shows (also sent out of band after changes)."""
    credentials = list(selectors.api_credential_list(organization=organization))
    return _base_context(
        account_section="connection-api-credentials",
        organization=organization,
        api_credentials=credentials,
        credential_count=len(credentials),
        credential_limit=ApiCredential.MAX_CONNECTION_CREDENTIALS,
        at_limit=services.api_credential_limit_reached(in_use=len(credentials)),
        token_url=request.build_absolute_uri(reverse("oauth-token")),
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    """A page that shows a new secret must not be kept by any cache or the browser's history."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@require_GET
@role_required(roles.ORG_ADMIN_PERMS)
def account(request: HtmxHttpRequest) -> HttpResponse:
    """Account: the organization, and its Integration section."""
    organization = user_organization(request)
    context = _base_context(
        account_section="overview",
        organization=organization,
        credential_count=selectors.api_credential_list(organization=organization).count(),
        credential_limit=ApiCredential.MAX_CONNECTION_CREDENTIALS,
    )
    return TemplateResponse(request, "credentials/account.html", context)


@require_GET
@role_required(roles.ORG_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def api_credential_list(request: HtmxHttpRequest) -> HttpResponse:
    organization = user_organization(request)
    template = LIST_TEMPLATE + ("#credential-area" if wants_fragment(request) else "")
    return TemplateResponse(request, template, list_context(request, organization))


def _add_response(request: HtmxHttpRequest, context: dict[str, object], *, whole_dialog: bool = False) -> HttpResponse:
    if wants_fragment(request):
        template = ADD_MODAL if whole_dialog else ADD_MODAL + "#add-content"
        return TemplateResponse(request, template, {**context, "in_dialog": True})
    return TemplateResponse(request, "credentials/apicredential_add.html", _base_context(**context))


@require_http_methods(["GET", "POST"])
@role_required(roles.ORG_ADMIN_PERMS)
@vary_on_headers("HX-Request")
@never_cache
def api_credential_add(request: HtmxHttpRequest) -> HttpResponse:
    """Add Secret, step 1 (Short Description, role); its Next shows step 2."""
    organization = user_organization(request)
    if services.api_credential_limit_reached(in_use=selectors.api_credential_list(organization=organization).count()):
        return _add_response(
            request, {"refusal": services.API_CREDENTIAL_LIMIT_MESSAGE}, whole_dialog=request.method == "GET"
        )
    if request.method == "GET":
        form = ApiCredentialDescribeForm(organization=organization)
        return _add_response(request, {"form": form, "step": 1}, whole_dialog=True)
    form = ApiCredentialDescribeForm(request.POST, organization=organization)
    if request.POST.get("back") or not form.is_valid():
        # Back from step 2 shows step 1 with what was entered; invalid input shows what is wrong.
        return _add_response(request, {"form": form, "step": 1})
    step_two = ApiCredentialAddForm(
        initial={"name": form.cleaned_data["name"], "role": form.cleaned_data["role"].public_id},
        organization=organization,
    )
    return _add_response(request, {"form": step_two, "step": 2, "role": form.cleaned_data["role"]})


@require_POST
@sensitive_post_parameters("client_secret")
@role_required(roles.ORG_ADMIN_PERMS)
@never_cache
def api_credential_add_done(request: HtmxHttpRequest) -> HttpResponse:
    """Add Secret, step 2's Done: create the credentials and show them once."""
    organization = user_organization(request)
    form = ApiCredentialAddForm(request.POST, organization=organization)
    context: dict[str, object] = {"form": form, "step": 2}
    valid = form.is_valid()
    context["role"] = form.cleaned_data.get("role")
    if valid:
        try:
            credential, secret = services.api_credential_create(
                organization=organization,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                client_secret=form.cleaned_data["client_secret"],
                created_by=request.user,
            )
        except services.ApiCredentialLimitReached as exc:
            # Another admin got there first: say so, and show the list as it is now.
            if wants_fragment(request):
                return TemplateResponse(
                    request,
                    ADD_MODAL + "#add-with-list",
                    {**list_context(request, organization), "refusal": str(exc), "in_dialog": True},
                )
            return _add_response(request, {"refusal": str(exc)})
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            shown = {"credential": credential, "secret": secret, "created": True}
            if wants_fragment(request):
                response = TemplateResponse(
                    request,
                    ADD_MODAL + "#add-with-list",
                    {**list_context(request, organization), **shown, "in_dialog": True},
                )
            else:
                response = TemplateResponse(
                    request,
                    "credentials/apicredential_secret.html",
                    _base_context(**shown, token_url=request.build_absolute_uri(reverse("oauth-token"))),
                )
            return _no_store(response)
    return _add_response(request, context)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("client_secret")
@role_required(roles.ORG_ADMIN_PERMS)
@vary_on_headers("HX-Request")
@never_cache
def api_credential_edit(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The pencil icon: short description, role and client secret; never the client ID."""
    organization = user_organization(request)
    credential = selectors.api_credential_of_organization(organization=organization, public_id=public_id)
    fragment = wants_fragment(request)
    if request.method == "POST" and forged_client_id(request.POST, credential):
        # No form of Portico sends a client ID: this request was made by hand. Refuse it whole.
        return HttpResponseBadRequest(CLIENT_ID_IMMUTABLE)
    initial = {"name": credential.name, "role": credential.role.public_id}
    form = ApiCredentialEditForm(request.POST or None, initial=initial, organization=organization)
    context: dict[str, object] = {"credential": credential, "form": form, "in_dialog": fragment}
    if request.method == "POST" and form.is_valid():
        try:
            credential, secret = services.api_credential_edit(
                credential_id=credential.pk,
                edited_by=request.user,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                new_secret=form.new_secret,
                client_secret=form.typed_secret,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            label = f"“{credential.name}”" if credential.name else f"with client ID {credential.client_id}"
            if secret is not None:
                shown = {"credential": credential, "secret": secret, "created": False}
                if fragment:
                    response = TemplateResponse(
                        request, EDIT_MODAL + "#edit-secret-shown", {**shown, "in_dialog": True}
                    )
                else:
                    response = TemplateResponse(
                        request,
                        "credentials/apicredential_secret.html",
                        _base_context(**shown, token_url=request.build_absolute_uri(reverse("oauth-token"))),
                    )
                return _no_store(response)
            messages.success(request, f"You've updated the connection API credentials {label}.")
            if fragment:
                # Close the dialog: its slot gets only out-of-band updates (the row, the message).
                response = TemplateResponse(request, EDIT_MODAL + "#edit-saved", {"credential": credential})
                return reswap(retarget(response, "#dialog-slot"), "innerHTML")
            return redirect("credentials:api-credential-list")
    if fragment:
        template = EDIT_MODAL + "#edit-content" if request.method == "POST" else EDIT_MODAL
        return TemplateResponse(request, template, context)
    return TemplateResponse(request, "credentials/apicredential_edit.html", _base_context(**context))


@require_http_methods(["GET", "POST"])
@role_required(roles.ORG_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def api_credential_delete(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Delete, after a confirmation; its tokens stop working at once."""
    organization = user_organization(request)
    credential = selectors.api_credential_of_organization(organization=organization, public_id=public_id)
    fragment = wants_fragment(request)
    if request.method == "GET":
        context = {"credential": credential, "in_dialog": fragment}
        if fragment:
            return TemplateResponse(request, DELETE_MODAL, context)
        return TemplateResponse(request, "credentials/apicredential_delete.html", _base_context(**context))
    services.api_credential_delete(credential_id=credential.pk, deleted_by=request.user)
    label = f"“{credential.name}”" if credential.name else "without a description"
    messages.success(
        request,
        f"You've deleted the connection API credentials {label} (client ID {credential.client_id}). "
        "Access tokens issued to them no longer work.",
    )
    if fragment:
        response = TemplateResponse(
            request, DELETE_MODAL + "#delete-done", {**list_context(request, organization), "oob": True}
        )
        return reswap(retarget(response, "#dialog-slot"), "innerHTML")
    return redirect("credentials:api-credential-list")
