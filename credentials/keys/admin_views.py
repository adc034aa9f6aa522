"""Admin Center > APIs (consumption settings, the keys of one API) and > Runtime targets."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from credentials.keys import admin_services, selectors, services
from credentials.keys.forms import ApiForm, KeyExpiryForm, KeySearchForm, RuntimeTargetForm
from credentials.keys.models import ApiKey
from portal import encryption, roles
from portal.decorators import role_required
from portal.http import HtmxHttpRequest, wants_fragment
from portal.second_factor.step_up import step_up_required

PAGE_SIZE = 25


def _admin_context(section: str, **context: object) -> dict[str, object]:
    return {"nav_section": "admin-center", "admin_section": section, **context}


# --- APIs -----------------------------------------------------------------------------------------
@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def api_list(request: HtmxHttpRequest) -> HttpResponse:
    page = Paginator(selectors.api_admin_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    template = "credentials/api_list.html"
    if wants_fragment(request):
        template += "#api-results"
    return TemplateResponse(request, template, _admin_context("apis", page=page, query=""))


@require_http_methods(["GET", "POST"])
@role_required(roles.HUB_ADMIN_PERMS)
def api_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ApiForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            api = admin_services.api_create(settings=form.api_settings(), created_by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"The API {api.name} is created.")
            return redirect(reverse("credentials:api-list") + f"#api-{api.pk}")
    return TemplateResponse(request, "credentials/api_form.html", _admin_context("apis", form=form, api=None))


@require_http_methods(["GET", "POST"])
@role_required(roles.HUB_ADMIN_PERMS)
def api_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    api = selectors.api_admin_get(pk=pk)
    form = ApiForm(request.POST if request.method == "POST" else None, api=api)
    if request.method == "POST" and form.is_valid():
        try:
            api = admin_services.api_update(api_id=api.pk, settings=form.api_settings(), updated_by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"The consumption settings of {api.name} are saved.")
            return redirect(reverse("credentials:api-list") + f"#api-{api.pk}")
    return TemplateResponse(request, "credentials/api_form.html", _admin_context("apis", form=form, api=api))


# --- The keys of one API --------------------------------------------------------------------------
@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def api_keys(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    api = selectors.api_admin_get(pk=pk)
    search = KeySearchForm(request.GET or None)
    q = search.cleaned_data["q"].strip() if search.is_valid() else ""
    page = Paginator(selectors.api_key_admin_list(api=api, q=q), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = _admin_context(
        "apis",
        api=api,
        search=search,
        q=q,
        page=page,
        query=query.urlencode(),
        now=timezone.now(),
    )
    template = "credentials/apikey_list.html"
    if wants_fragment(request):
        template += "#key-results"
    return TemplateResponse(request, template, context)


def _expiry_label(key: ApiKey) -> str:
    if key.expires_at is None:
        return "never expires"
    return f"expires on {timezone.localtime(key.expires_at):%Y-%m-%d %H:%M}"


@require_http_methods(["GET", "POST"])
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def api_key_expiry(request: HtmxHttpRequest, pk: int, key_pk: int) -> HttpResponse:
    """Change expiry of one key: in place in its row (htmx), or on a page of its own."""
    api = selectors.api_admin_get(pk=pk)
    key = selectors.api_key_admin_get(api=api, pk=key_pk)
    form = KeyExpiryForm(request.POST if request.method == "POST" else None, api_key=key)
    if request.method == "POST" and form.is_valid():
        try:
            services.api_key_set_expiry(
                api_key_id=key.pk, expires_at=form.cleaned_data["expires_at"], changed_by=request.user
            )
        except services.ApiKeyError as exc:
            form.add_error(None, str(exc))
        else:
            key = selectors.api_key_admin_get(api=api, pk=key.pk)
            messages.success(
                request,
                f"Key {key.prefix} of {key.consumer.display_name} now {_expiry_label(key)}. "
                "The consumer is told by email.",
            )
            if wants_fragment(request):
                response = TemplateResponse(
                    request,
                    "credentials/apikey_list.html#key-row-updated",
                    {"api": api, "key": key, "updated": True, "now": timezone.now()},
                )
                response["HX-Trigger"] = "apiKeyExpiryChanged"
                return response
            return redirect(reverse("credentials:api-keys", args=[api.pk]) + f"#key-{key.pk}")
    # htmx asks for the row with its editor open (Change expiry) or closed again (Cancel).
    editor_open = request.method == "POST" or request.GET.get("editor") != "closed"
    context = _admin_context("apis", api=api, key=key, expiry_form=form, editor_open=editor_open, now=timezone.now())
    if wants_fragment(request):
        return TemplateResponse(request, "credentials/apikey_list.html#key-row", context)
    return TemplateResponse(request, "credentials/apikey_expiry.html", context)


# --- Runtime targets ------------------------------------------------------------------------------
def _credentials_session_key(target_pk: int) -> str:
    return f"runtime-target-credentials-{target_pk}"


@sensitive_variables("credentials", "payload")
def _hand_over(request: HtmxHttpRequest, target_pk: int, credentials: admin_services.TargetCredentials) -> None:
    """Keep new credentials for the one page that shows them (Post/Redirect/Get). They cross the
    session store encrypted, and that page takes them out of it."""
    payload = json.dumps({"signing_secret": credentials.signing_secret, "verify_token": credentials.verify_token})
    request.session[_credentials_session_key(target_pk)] = encryption.encrypt(payload)


@sensitive_variables("ciphertext")
def _take_over(request: HtmxHttpRequest, target_pk: int) -> dict[str, str] | None:
    ciphertext = request.session.pop(_credentials_session_key(target_pk), None)
    if not ciphertext:
        return None
    try:
        return json.loads(encryption.decrypt(ciphertext))
    except encryption.DecryptionError:
        return None


@require_GET
@role_required(roles.HUB_ADMIN_PERMS)
@vary_on_headers("HX-Request")
def runtime_target_list(request: HtmxHttpRequest) -> HttpResponse:
    template = "credentials/runtimetarget_list.html"
    if wants_fragment(request):
        template += "#target-results"
    context = _admin_context("targets", targets=selectors.runtime_target_list(), now=timezone.now())
    return TemplateResponse(request, template, context)


@sensitive_variables("credentials")
@require_http_methods(["GET", "POST"])
@role_required(roles.HUB_ADMIN_PERMS)
def runtime_target_create(request: HtmxHttpRequest) -> HttpResponse:
    form = RuntimeTargetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            target, credentials = admin_services.runtime_target_create(**form.cleaned_data, created_by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            _hand_over(request, target.pk, credentials)
            return redirect("credentials:runtime-target-credentials", pk=target.pk)
    return TemplateResponse(request, "credentials/runtimetarget_form.html", _admin_context("targets", form=form))


@require_http_methods(["GET", "POST"])
@role_required(roles.HUB_ADMIN_PERMS)
def runtime_target_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    target = selectors.runtime_target_get(pk=pk)
    form = RuntimeTargetForm(request.POST if request.method == "POST" else None, target=target)
    if request.method == "POST" and form.is_valid():
        try:
            target = admin_services.runtime_target_update(
                target_id=target.pk, **form.cleaned_data, updated_by=request.user
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"The runtime target {target.name} is saved.")
            return redirect(reverse("credentials:runtime-target-list") + f"#target-{target.pk}")
    context = _admin_context("targets", form=form, target=target)
    return TemplateResponse(request, "credentials/runtimetarget_form.html", context)


@require_POST
@role_required(roles.HUB_ADMIN_PERMS)
def runtime_target_retry_failed(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send again the deployments this gateway refused (after the cause was fixed there)."""
    target = selectors.runtime_target_get(pk=pk)
    count = admin_services.runtime_target_retry_failed(target_id=target.pk, retried_by=request.user)
    messages.success(
        request,
        f"{count} refused deployment{'s' if count != 1 else ''} to {target.name} queued again."
        if count
        else f"Nothing refused by {target.name} waits to be sent again.",
    )
    return redirect(reverse("credentials:runtime-target-list") + f"#target-{target.pk}")


@sensitive_variables("credentials")
@require_POST
@role_required(roles.HUB_ADMIN_PERMS)
@step_up_required
def runtime_target_regenerate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    target = selectors.runtime_target_get(pk=pk)
    target, credentials = admin_services.runtime_target_regenerate_credentials(
        target_id=target.pk, regenerated_by=request.user
    )
    _hand_over(request, target.pk, credentials)
    return redirect("credentials:runtime-target-credentials", pk=target.pk)


@sensitive_variables()  # every frame below: the template context holds the values too
@require_GET
@never_cache
@role_required(roles.HUB_ADMIN_PERMS)
def runtime_target_credentials(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The new signing secret and verify token, shown once: a second visit finds them gone."""
    target = selectors.runtime_target_get(pk=pk)
    credentials = _take_over(request, target.pk)
    context = _admin_context("targets", target=target, credentials=credentials)
    return TemplateResponse(request, "credentials/runtimetarget_secrets.html", context)
