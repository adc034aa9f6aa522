from dataclasses import dataclass

from django import forms
from django.http import QueryDict

from approvals.models import Decision


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason for rejection",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason for the rejection."},
    )


@dataclass(frozen=True)
class PostedVerdict:
    """Approve, or Reject with its reason, as posted by the decision form's buttons."""

    verdict: str
    comment: str
    reject_form: RejectForm  # bound when the verdict is a rejection, to show its error
    error: str  # for the person, when the post cannot be decided on
    reviewed: str = ""  # the version of the subject the page showed (its review_version)


OUT_OF_DATE = "This decision form is out of date. Reload the page, review the request and decide again."


def read_verdict(data: QueryDict) -> PostedVerdict:
    verdict = data.get("verdict", "")
    reject_form = RejectForm(data if verdict == Decision.Verdict.REJECT else None)
    reviewed = data.get("reviewed", "")
    if not reviewed:
        # A decision applies to what the approver saw: a post that does not say what that was
        # (an old page, a hand-made request) decides nothing.
        return PostedVerdict(verdict, "", reject_form, OUT_OF_DATE)
    if verdict not in Decision.Verdict.values:
        return PostedVerdict(verdict, "", reject_form, "Choose Approve or Reject.", reviewed)
    if verdict == Decision.Verdict.REJECT:
        if not reject_form.is_valid():
            return PostedVerdict(verdict, "", reject_form, "Give a reason for the rejection.", reviewed)
        return PostedVerdict(verdict, reject_form.cleaned_data["reason"], reject_form, "", reviewed)
    return PostedVerdict(verdict, "", reject_form, "", reviewed)
