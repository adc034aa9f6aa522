from datetime import UTC, datetime, time

from django import forms
from django.utils import timezone

from credentials import secret_rules
from credentials.models import ApiCredential, Role, Tenant
from credentials.tenant_credentials import CredentialsError, TenantCredentials, parse_tenant_credentials
from portal.models import Organization

CREDENTIALS_HELP = (
    "Paste the JSON you copied from the API Management tenant: either url, tokenUrl, clientId and "
    "clientSecret, or url, tokenurl, certurl, certificate and key."
)


class TenantForm(forms.Form):
    alias = forms.CharField(label="API portal alias", max_length=100)
    url = forms.URLField(label="API portal URL", max_length=500, assume_scheme="https")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.startswith("https://"):
            raise forms.ValidationError("The API portal URL must start with https://.")
        return url


class CredentialsForm(forms.Form):
    """The pasted credentials, their generation date and the explicit "save without test"."""

    credentials = forms.CharField(
        label="API Portal Access Credentials",
        widget=forms.Textarea(attrs={"rows": 9, "spellcheck": "false", "autocomplete": "off"}),
        help_text=CREDENTIALS_HELP,
        strip=False,
    )
    generated_on = forms.DateField(
        label="Credentials generated on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=(
            "Leave empty for today. Credentials are valid for 365 days; credentials generated "
            "before February 2024 keep their 65-day validity."
        ),
    )
    skip_test = forms.BooleanField(
        label="Save without testing the connection",
        required=False,
        help_text="Only when the token URL cannot be reached from the hub yet. This is recorded in the audit log.",
    )

    def clean_credentials(self) -> TenantCredentials:
        try:
            return parse_tenant_credentials(self.cleaned_data["credentials"])
        except CredentialsError as exc:
            # Each message names its field already ("The "tokenUrl" field must start with https://.").
            raise forms.ValidationError([message for _field, message in exc.errors]) from exc

    def clean_generated_on(self) -> datetime:
        day = self.cleaned_data.get("generated_on")
        now = timezone.now()
        if day is None:
            return now
        if day > now.date():
            raise forms.ValidationError("The generation date cannot be in the future.")
        if day == now.date():
            return now
        return datetime.combine(day, time.min, tzinfo=UTC)


class ConnectionRequestSubmitForm(CredentialsForm):
    tenant = forms.ModelChoiceField(label="API portal", queryset=Tenant.objects.none(), empty_label=None)

    field_order = ["tenant", "credentials", "generated_on", "skip_test"]

    def __init__(self, *args: object, organization: Organization, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = Tenant.objects.filter(organization=organization)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason for rejection",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason for the rejection."},
    )


class ApprovedRequestsFilterForm(forms.Form):
    SORTS = {
        "alias": "tenant__alias",
        "-alias": "-tenant__alias",
        "approved": "decided_at",
        "-approved": "-decided_at",
        "expires": "expires_at",
        "-expires": "-expires_at",
        "health": "health",
        "-health": "-health",
    }
    q = forms.CharField(label="Search", required=False, max_length=100)
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS])

    def ordering(self) -> str:
        sort = self.cleaned_data.get("sort") if self.is_valid() else ""
        return self.SORTS.get(sort or "-approved", "-decided_at")


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


# --- Connection API credentials (Account > Integration) -------------------------------------------
SHORT_DESCRIPTION_HELP = "Optional. What the credentials are for, e.g. the application or script that uses them."
ROLE_HELP = "Admin: its tokens may read and change your account through the REST API. Read-only: they may only read."


def _secret_widget() -> forms.TextInput:
    return forms.TextInput(
        attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off", "class": "monospace"}
    )


class ApiCredentialDescribeForm(forms.Form):
    """Add Secret, first step: what the credentials are for and what their tokens may do."""

    name = forms.CharField(label="Short Description", max_length=200, required=False, help_text=SHORT_DESCRIPTION_HELP)
    role = forms.ModelChoiceField(
        label="Role", queryset=Role.objects.none(), empty_label=None, help_text=ROLE_HELP, to_field_name="public_id"
    )

    def __init__(self, *args: object, organization: Organization, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        roles = Role.objects.filter(organization=organization).order_by("kind", "name")
        self.fields["role"].queryset = roles
        admin = next((role for role in roles if role.kind == Role.Kind.ADMIN), None)
        if admin is not None and not self.is_bound:
            self.fields["role"].initial = admin.public_id


def clean_custom_secret(value: str) -> str:
    """The shape rules of a typed client secret (reuse is the service's to check)."""
    problems = secret_rules.custom_secret_problems(value)
    if problems:
        raise forms.ValidationError(problems)
    return value


class ApiCredentialAddForm(ApiCredentialDescribeForm):
    """Add Secret, second step: the first step's answers (hidden) and an optional typed secret."""

    client_secret = forms.CharField(
        label="Client Secret",
        required=False,
        strip=False,
        max_length=secret_rules.MAX_LENGTH * 2,  # longer ones get the rules' own message
        widget=_secret_widget(),
        help_text="Optional. Leave it empty and Portico generates a strong secret.",
    )
    rules = secret_rules.RULES  # listed under the field

    def clean_client_secret(self) -> str | None:
        value = self.cleaned_data["client_secret"]
        return clean_custom_secret(value) if value else None


class ApiCredentialEditForm(ApiCredentialDescribeForm):
    """The pencil icon: short description, role and, when asked, a new client secret."""

    KEEP, GENERATE, TYPE = "keep", "generate", "type"
    secret_action = forms.ChoiceField(
        label="Client Secret",
        choices=[
            (KEEP, "Keep the current secret"),
            (GENERATE, "Generate a new secret"),
            (TYPE, "Type a new secret"),
        ],
        initial=KEEP,
        widget=forms.RadioSelect,
    )
    client_secret = forms.CharField(
        label="New client secret",
        required=False,
        strip=False,
        max_length=secret_rules.MAX_LENGTH * 2,
        widget=_secret_widget(),
    )
    rules = secret_rules.RULES  # listed under the field

    def clean(self) -> dict:
        cleaned = super().clean()
        action, typed = cleaned.get("secret_action"), cleaned.get("client_secret") or ""
        if typed and action == self.KEEP:
            # Typed a secret: that is the intent. The form shows that choice if it comes back.
            action = cleaned["secret_action"] = self.TYPE
            self.data = self.data.copy()
            self.data["secret_action"] = self.TYPE
        if action == self.GENERATE and typed:
            self.add_error("client_secret", "Choose “Type a new secret” to use the secret you typed, or clear the box.")
        elif action == self.TYPE:
            if not typed:
                self.add_error("client_secret", "Type the new client secret, or choose another option.")
            else:
                try:
                    clean_custom_secret(typed)
                except forms.ValidationError as exc:
                    self.add_error("client_secret", exc)
        return cleaned

    @property
    def new_secret(self) -> bool:
        return self.cleaned_data["secret_action"] != self.KEEP

    @property
    def typed_secret(self) -> str | None:
        return self.cleaned_data["client_secret"] if self.cleaned_data["secret_action"] == self.TYPE else None


def forged_client_id(data: object, credential: ApiCredential) -> bool:
    """Whether a POST tries to change the client ID, which no form of Portico offers."""
    sent = data.get("client_id") if hasattr(data, "get") else None
    return sent is not None and sent != credential.client_id
