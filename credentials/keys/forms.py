"""Forms of My API Keys (rotation) and of the Admin Center's APIs, keys and runtime targets."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth.models import Group
from django.forms.boundfield import BoundWidget
from django.utils import timezone
from django.utils.text import slugify

from credentials.keys import selectors
from credentials.keys.admin_services import MAX_KEY_LIFETIME_DAYS, ApiSettings
from credentials.keys.models import Api, ApiKey, RuntimeTarget
from credentials.lib import outbound, text
from credentials.templatetags.expiry import expiry_moment
from portal.models import Organization, User

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

GRACE_CHOICES = [
    ("0", "Revoke the old secret now"),
    ("3600", "1 hour"),
    ("86400", "1 day"),
    ("259200", "3 days"),
    ("604800", "7 days"),
]


class RotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label="Keep the old secret working for",
        choices=GRACE_CHOICES,
        coerce=int,
        initial="86400",
        widget=forms.RadioSelect,
        help_text="Clients still using the old secret keep working until then; after that they get 401.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each grace says until when, counted from now: "1 day (until 2026-12-03 15:00 UTC)".
        now = timezone.now()
        field = cast(forms.TypedChoiceField, self.fields["grace"])
        field.choices = [
            (value, f"{label} (until {expiry_moment(now + timedelta(seconds=int(value)))})" if int(value) else label)
            for value, label in GRACE_CHOICES
        ]


LIFETIME_HELP = (
    f"1 to {MAX_KEY_LIFETIME_DAYS} days. Applies to keys issued or renewed from now on; "
    "change one key's expiry on the API's Keys page."
)


class ApproverField(forms.ModelMultipleChoiceField):
    """Named approvers: any active user, labelled with whether their role lets them decide."""

    def label_from_instance(self, obj: "WithAnnotations[User, selectors.ApproverRoles]") -> str:
        name = obj.get_full_name()
        label = f"{name} ({obj.username})" if name else obj.username
        roles = [role for role, held in (("Approver", obj.is_approver), ("Hub admin", obj.is_hub_admin)) if held]
        return f"{label} · {', '.join(roles)}" if roles else label


class RuntimeTargetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: RuntimeTarget) -> str:
        return f"{obj.name} ({obj.get_health_display().lower()}) · {obj.base_url}"


class ApiForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    slug = forms.SlugField(
        label="Slug",
        max_length=80,
        required=False,
        help_text="Identifies the API in URLs and to the runtime target. Leave empty to derive it from the name.",
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3, "class": "textarea--prose"})
    )
    provider = forms.ModelChoiceField(
        label="Provider organization", queryset=Organization.objects.order_by("name"), empty_label="Choose…"
    )
    # Text, not IntegerField: the number is only checked when "Unlimited" is not ticked (see clean).
    key_lifetime_days = forms.CharField(
        label="Key lifetime (days)",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_KEY_LIFETIME_DAYS, "step": 1, "inputmode": "numeric"}),
        help_text=LIFETIME_HELP,
    )
    unlimited = forms.BooleanField(label="Unlimited (keys never expire)", required=False)
    renewal_requires_approval = forms.BooleanField(
        label="Renewal needs approval",
        required=False,
        help_text="Renewals (and new keys) wait until the approvers below approve them.",
    )
    approvers = ApproverField(
        label="Approvers", queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    approver_group = forms.ModelChoiceField(
        label="Approver group",
        queryset=Group.objects.order_by("name"),
        required=False,
        empty_label="No group",
        help_text="Every active member of the group may decide.",
    )
    approval_mode = forms.ChoiceField(
        label="Approval mode", choices=Api.ApprovalMode.choices, initial=Api.ApprovalMode.ANY, widget=forms.RadioSelect
    )
    runtime_target = RuntimeTargetChoiceField(
        label="Runtime target",
        queryset=RuntimeTarget.objects.order_by("name"),
        required=False,
        empty_label="None: keys are not deployed to a gateway",
        help_text="The gateway that enforces this API's keys. Changing it deploys every usable key to the new one.",
    )

    def __init__(self, *args: Any, api: Api | None = None, **kwargs: Any) -> None:
        if api is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": api.name,
                "slug": api.slug,
                "description": api.description,
                "provider": api.provider_id,
                "key_lifetime_days": api.key_lifetime_days or "",
                "unlimited": api.key_lifetime_days is None,
                "renewal_requires_approval": api.renewal_requires_approval,
                "approvers": [user.pk for user in api.approvers.all()],
                "approver_group": api.approver_group_id,
                "approval_mode": api.approval_mode,
                "runtime_target": api.runtime_target_id,
            }
        super().__init__(*args, **kwargs)
        self.api = api
        cast(ApproverField, self.fields["approvers"]).queryset = selectors.approver_candidates()

    def approver_choices(self) -> tuple[list[BoundWidget], list[BoundWidget]]:
        """The approver checkboxes split in two: users whose role lets them decide, and the rest."""
        recommended: list[BoundWidget] = []
        others: list[BoundWidget] = []
        for choice in self["approvers"]:
            user = choice.data["value"].instance
            (recommended if user.is_approver or user.is_hub_admin else others).append(choice)
        return recommended, others

    def other_approver_selected(self) -> bool:
        _, others = self.approver_choices()
        return any(choice.data["selected"] for choice in others)

    def error_links(self) -> list[tuple[str, str]]:
        """(anchor, label) of each field with an error, for the summary above the form."""
        anchors = {"approvers": "approvers", "approval_mode": "approval-mode"}
        return [
            (anchors.get(name, self[name].id_for_label), str(self.fields[name].label))
            for name in self.fields
            if name in self.errors
        ]

    def clean_name(self) -> str:
        return _clean_text(self.cleaned_data["name"], max_length=200)

    def clean_description(self) -> str:
        return _clean_text(self.cleaned_data["description"], line_breaks=True)

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"] or slugify(self.data.get(self.add_prefix("name"), ""))[:80]
        # Empty: clean() reports the missing name or slug. A slug already taken is the service's to say.
        return slug

    def clean(self) -> dict[str, object]:
        cleaned = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data, never None
        if "slug" in cleaned and not cleaned["slug"] and "name" in cleaned:
            self.add_error("slug", "Enter a slug: letters, numbers, hyphens or underscores.")
        if cleaned.get("unlimited"):
            cleaned["key_lifetime_days"] = None
        else:
            raw = (cleaned.get("key_lifetime_days") or "").strip()
            if not raw:
                self.add_error("key_lifetime_days", "Enter the key lifetime in days, or tick Unlimited.")
            elif not (raw.isascii() and raw.isdigit()):  # "²" is a digit to isdigit(), not to int()
                self.add_error("key_lifetime_days", "Enter a whole number of days.")
            else:
                # The range, and whether approvers are needed, are rules of ApiSettings.check(). A
                # number of more digits than int() reads (4,300) is out of that range whatever it is.
                cleaned["key_lifetime_days"] = int(raw) if len(raw) <= 18 else MAX_KEY_LIFETIME_DAYS + 1
        return cleaned

    def api_settings(self) -> ApiSettings:
        """The cleaned values as api_create / api_update take them."""
        data = self.cleaned_data
        return ApiSettings(
            name=data["name"].strip(),
            slug=data["slug"],
            description=data["description"].strip(),
            provider=data["provider"],
            key_lifetime_days=data["key_lifetime_days"],
            renewal_requires_approval=data["renewal_requires_approval"],
            approval_mode=data["approval_mode"],
            approvers=tuple(data["approvers"]),
            approver_group=data["approver_group"],
            runtime_target=data["runtime_target"],
        )


class KeyExpiryForm(forms.Form):
    """Change expiry: a new date and time, or unlimited. Prefixed per key, so every row of the
    Keys page has its own field ids."""

    expires_at = forms.DateTimeField(
        label="New expiry",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "autofocus": True}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, such as 2030-12-31 17:00."},
    )
    unlimited = forms.BooleanField(label="Unlimited (never expires)", required=False)

    def __init__(self, *args: Any, api_key: ApiKey, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"key-{api_key.pk}")
        kwargs.setdefault(
            "initial",
            {
                "expires_at": timezone.localtime(api_key.expires_at) if api_key.expires_at else None,
                "unlimited": api_key.expires_at is None,
            },
        )
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, object]:
        cleaned = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data, never None
        if cleaned.get("unlimited"):
            cleaned["expires_at"] = None
            self.errors.pop("expires_at", None)  # a half-typed date does not matter once Unlimited is ticked
            return cleaned
        expires_at: datetime | None = cleaned.get("expires_at")
        now = timezone.now()
        if "expires_at" in self.errors:
            return cleaned
        if expires_at is None:
            self.add_error("expires_at", "Choose the new expiry date and time, or tick Unlimited.")
        elif expires_at <= now:
            self.add_error("expires_at", "The new expiry must be in the future.")
        elif expires_at > now + timedelta(days=MAX_KEY_LIFETIME_DAYS):
            self.add_error(
                "expires_at", "The new expiry is at most 10 years ahead; tick Unlimited for a key that never expires."
            )
        return cleaned


def _clean_text(
    value: str, *, identifier: bool = False, line_breaks: bool = False, max_length: int | None = None
) -> str:
    """A name or description tidied, or ValidationError saying which character cannot stay
    (credentials.lib.text); descriptions keep line breaks and may mix scripts. The length is
    checked again after tidying, which can lengthen text (NFKC writes "ﷺ" in 18 letters)."""
    value = text.tidy(value, identifier=identifier)
    problem = text.problem(value, line_breaks=line_breaks, one_script_words=not line_breaks)
    if problem:
        raise forms.ValidationError(problem)
    if max_length is not None and len(value) > max_length:
        raise forms.ValidationError(f"Keep it to {max_length} characters.")
    return value


def _gateway_url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if "@" in parts.netloc:
        return "The URL must not contain a user name or password."
    if outbound.scheme_allowed(parts.scheme, parts.hostname or ""):
        return None
    return "The URL must start with https://."


class RuntimeTargetForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    base_url = forms.URLField(
        label="Base URL",
        max_length=500,
        assume_scheme="https",
        error_messages={"invalid": outbound.HTTPS_URL_INVALID},
        help_text="Portico POSTs key deployments to <base URL>/access-keys, signed with the signing secret.",
    )
    health_url = forms.URLField(
        label="Health URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        error_messages={"invalid": outbound.HTTPS_URL_INVALID},
        help_text="Checked to show whether the gateway is up. Leave empty if it has none.",
    )

    def __init__(self, *args: Any, target: RuntimeTarget | None = None, **kwargs: Any) -> None:
        if target is not None and "initial" not in kwargs:
            kwargs["initial"] = {"name": target.name, "base_url": target.base_url, "health_url": target.health_url}
        super().__init__(*args, **kwargs)
        self.target = target

    def clean_name(self) -> str:
        # An identifier picked from lists (NFKC); a name already taken is the service's to say.
        return _clean_text(self.cleaned_data["name"], identifier=True, max_length=100)

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].rstrip("/")
        problem = _gateway_url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def clean_health_url(self) -> str:
        url = self.cleaned_data["health_url"]
        problem = url and _gateway_url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


class KeySearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100)
