from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender: AppConfig, **kwargs: object) -> None:
    from portal.roles import ensure_role_groups

    ensure_role_groups()


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401 - registers the deployment checks of Portico's keys

        # Groups need the permission rows, which Django creates after migrating.
        post_migrate.connect(_ensure_roles, sender=self)
