from datetime import UTC, datetime, time
from typing import Any, cast

from django import forms
from django.utils import timezone

from credentials.connections.models import Tenant
from credentials.connections.pasted import CredentialsError, TenantCredentials, parse_tenant_credentials
from credentials.lib import outbound, text
from portal.models import Organization

CREDENTIALS_HELP = (
    "Paste the JSON you copied from the API Management tenant: either url, tokenUrl, clientId and "
    "clientSecret, or url, tokenurl, certurl, certificate and key."
)


class TenantForm(forms.Form):
    alias = forms.CharField(label="API portal alias", max_length=100)
    url = forms.URLField(
        label="API portal URL",
        max_length=500,
        assume_scheme="https",
        error_messages={"invalid": outbound.HTTPS_URL_INVALID},
    )

    def clean_alias(self) -> str:
        # An identifier picked from lists: NFKC, so a fullwidth twin of an alias meets the
        # uniqueness check; invisible and look-alike characters are refused (credentials.lib.text).
        alias = text.tidy(self.cleaned_data["alias"], identifier=True)
        problem = text.problem(alias)
        if problem:
            raise forms.ValidationError(problem)
        if len(alias) > 100:
            raise forms.ValidationError("Keep the alias to 100 characters.")
        return alias

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.startswith("https://"):
            raise forms.ValidationError("The API portal URL must start with https://.")
        return url


def describe(form: forms.Form, name: str, *regions: str) -> None:
    """aria-describedby of a field: the ids "<field id>-<region>" of its error region and its help."""
    auto_id = form[name].auto_id
    form.fields[name].widget.attrs["aria-describedby"] = " ".join(f"{auto_id}-{region}" for region in regions)


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Link the fields to their error regions and help (templates/credentials/partials/
        # credentials_fields.html); a region is there, empty, before any error is swapped in.
        describe(self, "generated_on", "errors", "help")
        describe(self, "skip_test", "help")

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

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = Tenant.objects.filter(
            organization=organization
        )
        describe(self, "tenant", "errors")


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
    DEFAULT_SORT = "-approved"
    q = forms.CharField(label="Search", required=False, max_length=100)
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, key) for key in SORTS],
        error_messages={"invalid_choice": "Sort by one of the table's columns: the list is sorted by approval date."},
    )

    def _valid(self, name: str) -> str:
        """A field's clean value, even when another field is wrong (its error is shown)."""
        self.is_valid()
        return getattr(self, "cleaned_data", {}).get(name) or ""

    def search(self) -> str:
        return self._valid("q")

    def sort_key(self) -> str:
        return self._valid("sort") or self.DEFAULT_SORT

    def ordering(self) -> str:
        return self.SORTS[self.sort_key()]
