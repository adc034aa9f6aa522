from django.apps import AppConfig
from django.db.models.signals import post_save


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        from credentials.integration.services import organization_roles_on_create
        from credentials.keys import accounts
        from portal.models import Organization, User

        # Every organization has its default API roles from the start, so no page or API read
        # ever has to create them (reads do not write).
        post_save.connect(organization_roles_on_create, sender=Organization, dispatch_uid="credentials-default-roles")
        # A deactivated user or organization: their keys stop at the gateway within a second.
        post_save.connect(accounts.consumer_saved, sender=User, dispatch_uid="credentials-consumer-saved")
        post_save.connect(accounts.organization_saved, sender=Organization, dispatch_uid="credentials-org-saved")
