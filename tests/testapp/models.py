from django.db import models

from portal.fields import EncryptedJSONField, EncryptedTextField


class SecretNote(models.Model):
    """A row with both encrypted field types, to test them without a domain model."""

    title = models.CharField(max_length=100)
    body = EncryptedTextField(null=True, blank=True)  # noqa: DJ001 - NULL is how "no secret" is stored
    data = EncryptedJSONField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title
