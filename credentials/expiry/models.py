"""What Portico owes people before their credentials expire."""

from django.db import models
from django.db.models import Q

from portal.models import OutboundEmail


def email_dedupe_key(reminder_id: int) -> str:
    """The dedupe key of a reminder's email: it links the two, and sends the email once."""
    return f"reminder:{reminder_id}"


class ExpiryReminder(models.Model):
    """One reminder owed before something expires: which thing, which expiry, which threshold.

    The unique constraint is the exactly-once guarantee: the sweep inserts the row and writes its
    email in one transaction, so a second sweep (or worker) cannot send it again. A renewed key
    has a new expiry and so a fresh set of reminders. The email is the outbox row whose dedupe key
    is "reminder:<id>" (none when nobody had an address)."""

    class Subject(models.TextChoices):
        API_KEY = "api_key", "API key"
        CONNECTION = "connection", "Connection credentials"

    subject_type = models.CharField(max_length=20, choices=Subject.choices)
    subject_id = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField()
    threshold_days = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of the sweep's NOT EXISTS lookup.
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "expires_at", "threshold_days"], name="expiry_reminder_once"
            ),
            models.CheckConstraint(
                condition=Q(subject_type__in=["api_key", "connection"]), name="expiry_reminder_subject_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_id}: {self.threshold_days}-day reminder"

    @property
    def email(self) -> OutboundEmail | None:
        return OutboundEmail.objects.filter(dedupe_key=email_dedupe_key(self.pk)).first()
