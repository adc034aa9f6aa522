from typing import Any, cast

from django import forms


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.CharField(required=False, label="User", max_length=150)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    target_type = forms.CharField(required=False, widget=forms.HiddenInput)
    target_id = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "Any action")] + [(a, a) for a in actions]

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data, never None
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data
