from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender: AppConfig, **kwargs: object) -> None:
    from portal.roles import ensure_role_groups

    ensure_role_groups()


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Groups need the permission rows, which Django creates after migrating.
        post_migrate.connect(_ensure_roles, sender=self)
