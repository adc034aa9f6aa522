from django.conf import settings
from django.db import models


class SsoIdentity(models.Model):
    """Which Portico user a provider's subject is: the one stable link of an account to the provider.

    Users are matched by issuer and subject (`iss`, `sub`), never by e-mail address or user name,
    which the provider's users may change and which may name a local account of someone else.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            # Every sign-in looks the user up by (issuer, subject); the unique index serves it.
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_issuer_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
