"""The API catalog and User Preferences > My API Keys with its actions: request, renew, withdraw a
renewal, rotate, revoke (consumers). Approvals, when an API needs them, go through the approval port."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from credentials.keys import selectors, services
from credentials.keys.forms import RotateForm
from credentials.keys.models import Api
from credentials.lib.approval_port import ApprovalRefused
from portal import roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, wants_fragment
from portal.pagination import list_page

PAGE_SIZE = 50  # My API Keys: keys a page


@require_GET
@role_required(roles.BROWSE_APIS_PERMS)
def api_catalog(request: HtmxHttpRequest) -> HttpResponse:
    """Every signed-in role browses the APIs; only consumers get "Request API key" (api_key_request)."""
    context = {
        "apis": selectors.api_catalog(),
        "open_key_api_ids": selectors.open_key_api_ids(consumer=request.user),
        "may_request_keys": request.user.has_perms(roles.CONSUMER_PERMS),
        "nav_section": "apis",
    }
    return TemplateResponse(request, "credentials/api_catalog.html", context)


def my_api_keys_context(request: HtmxHttpRequest) -> dict[str, object]:
    """My API Keys: one page of the consumer's keys; the same queries at any number of keys."""
    listed = list_page(selectors.api_key_list(consumer=request.user), request.GET, per_page=PAGE_SIZE)
    return {
        "page": listed.page,
        "page_error": listed.error,
        "query": listed.query,
        # A revoked or rejected key offers "Request a new key" unless its API has an open one.
        "open_key_api_ids": selectors.open_key_api_ids(
            consumer=request.user, api_ids={api_key.api_id for api_key in listed.page}
        ),
        "nav_section": "keys",
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
            rotated_out = selectors.key_secret_rotated_out(api_key=api_key)
            return TemplateResponse(
                request,
                "credentials/apikey_secret.html",
                {
                    "api_key": api_key,
                    "secret": secret,
                    "rotated": True,
                    "rotated_out": rotated_out,
                    "old_secret_works": bool(
                        rotated_out and rotated_out.valid_until and rotated_out.valid_until > timezone.now()
                    ),
                    "nav_section": "keys",
                },
            )
    context = {
        "api_key": api_key,
        "form": form,
        "grace_secrets": selectors.key_secret_grace_list(api_key=api_key),
        "nav_section": "keys",
    }
    return TemplateResponse(request, "credentials/apikey_rotate.html", context)


def _key_row_response(request: HtmxHttpRequest, api_key_id: int) -> HttpResponse:
    """htmx: the key's updated row and the messages; otherwise back to My API Keys."""
    if not wants_fragment(request):
        return redirect("credentials:my-api-keys")
    api_key = selectors.api_key_of_consumer(consumer=request.user, pk=api_key_id)
    open_ids = selectors.open_key_api_ids(consumer=request.user, api_ids=[api_key.api_id])
    context = {"api_key": api_key, "open_key_api_ids": open_ids}
    response = TemplateResponse(request, "credentials/apikey_mine.html#key-row-updated", context)
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
    except (services.ApiKeyError, ApprovalRefused) as exc:
        messages.error(request, str(exc))
        return redirect("credentials:api-catalog")
    context = {"api_key": api_key, "secret": secret, "approval": approval, "nav_section": "keys"}
    return TemplateResponse(request, "credentials/apikey_secret.html", context)


@require_POST
@role_required(roles.CONSUMER_PERMS)
def api_key_renew(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """S3: Renew renews at once, or sends the renewal to the API's approvers."""
    api_key = selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        api_key, approval = services.api_key_renewal_request(api_key_id=api_key.pk, consumer=request.user)
    except (services.ApiKeyError, ApprovalRefused) as exc:
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
    api_key = selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        services.api_key_renewal_withdraw(api_key_id=api_key.pk, consumer=request.user)
    except services.ApiKeyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You withdrew the renewal of your {api_key.api.name} key.")
    return _key_row_response(request, pk)


@require_POST
@role_required(roles.CONSUMER_PERMS)
def api_key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    api_key = selectors.api_key_of_consumer(consumer=request.user, pk=pk)
    try:
        services.api_key_revoke(api_key_id=api_key.pk, revoked_by=request.user)
    except services.ApiKeyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Your {api_key.api.name} key {api_key.prefix} is revoked. It no longer works.")
    return _key_row_response(request, pk)
