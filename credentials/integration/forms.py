"""Forms of Account > Integration > Connection API Credentials."""

from typing import Any, cast

from django import forms
from django.http import QueryDict

from credentials.integration.models import ApiCredential, Role
from credentials.lib import secret_rules, text
from portal.models import Organization

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

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles = Role.objects.filter(organization=organization).order_by("kind", "name")
        role_field = cast("forms.ModelChoiceField[Role]", self.fields["role"])
        role_field.queryset = roles
        admin = next((role for role in roles if role.kind == Role.Kind.ADMIN), None)
        if admin is not None and not self.is_bound:
            role_field.initial = admin.public_id

    def clean_name(self) -> str:
        # Checked here too, not only by the service: step 1 of Add Secret calls no service, and
        # step 2 carries the name in a hidden field, where an error could not be seen.
        name = text.tidy(self.cleaned_data["name"])
        problem = text.problem(name)
        if problem:
            raise forms.ValidationError(problem)
        if len(name) > 200:  # tidying can lengthen text
            raise forms.ValidationError("Keep the short description to 200 characters.")
        return name


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

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data, never None
        action, typed = cleaned.get("secret_action"), cleaned.get("client_secret") or ""
        if typed and action == self.KEEP:
            # Typed a secret: that is the intent. The form shows that choice if it comes back.
            action = cleaned["secret_action"] = self.TYPE
            data = cast(QueryDict, self.data).copy()  # request.POST, which is immutable
            data["secret_action"] = self.TYPE
            self.data = data
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
