from django.apps import AppConfig


class SsoConfig(AppConfig):
    """Single sign-on: its own app only for the table that links a provider's subject to a user."""

    name = "portal.sso"
    label = "portico_sso"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"
