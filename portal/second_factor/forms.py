from django import forms


class CodeForm(forms.Form):
    """A code of the authenticator app (6 digits) or, where allowed, a recovery code."""

    code = forms.CharField(max_length=32, strip=True, label="Code")
