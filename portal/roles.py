"""The roles of Portico as Django groups, and the permissions each group grants.

Pages check permissions, never group names, so a role can be widened in one place.
The tenant admin is not a group of its own: it is the two SAP roles together.
"""

from django.db import models


class Role(models.TextChoices):
    CONSUMER = "Consumer", "Consumer"
    ORG_ADMIN = "Organization admin", "Organization admin"
    API_PORTAL_ADMINISTRATOR = "APIPortal.Administrator", "APIPortal.Administrator"
    API_PORTAL_REGISTRATION = "AuthGroup.APIPortalRegistration", "AuthGroup.APIPortalRegistration"
    HUB_ADMIN = "Hub admin", "Hub admin"
    APPROVER = "Approver", "Approver"


# Permission codenames live on portal.PortalPermission (an unmanaged model that only holds them).
PERMISSIONS = {
    "browse_apis": "Can browse the API catalog",
    "hold_api_keys": "Can hold API keys and ask for renewals",
    "manage_connection_api_credentials": "Can manage the account's connection API credentials",
    "administer_api_portal": "Can generate API portal access credentials (APIPortal.Administrator)",
    "register_api_portal": "Can register an API portal with the hub (AuthGroup.APIPortalRegistration)",
    "use_admin_center": "Can use the Admin Center",
    "decide_key_renewals": "Can approve or reject API key renewals",
}

GROUP_PERMISSIONS: dict[str, set[str]] = {
    Role.CONSUMER: {"browse_apis", "hold_api_keys"},
    Role.ORG_ADMIN: {"browse_apis", "manage_connection_api_credentials"},
    Role.API_PORTAL_ADMINISTRATOR: {"browse_apis", "administer_api_portal"},
    Role.API_PORTAL_REGISTRATION: {"browse_apis", "register_api_portal"},
    Role.HUB_ADMIN: {"browse_apis", "use_admin_center"},
    Role.APPROVER: {"browse_apis", "decide_key_renewals"},
}

# What a page asks for, as full permission names for `user.has_perms()`.
# Every signed-in role browses the API catalog; asking for a key there is the consumers' (CONSUMER_PERMS).
BROWSE_APIS_PERMS = ("portal.browse_apis",)
TENANT_ADMIN_PERMS = ("portal.administer_api_portal", "portal.register_api_portal")
HUB_ADMIN_PERMS = ("portal.use_admin_center",)
ORG_ADMIN_PERMS = ("portal.manage_connection_api_credentials",)
CONSUMER_PERMS = ("portal.hold_api_keys",)
APPROVER_PERMS = ("portal.decide_key_renewals",)


def ensure_role_groups() -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from portal.models import PortalPermission

    content_type = ContentType.objects.get_for_model(PortalPermission, for_concrete_model=False)
    perms = {}
    for codename, name in PERMISSIONS.items():
        perm, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        perms[codename] = perm
    for group_name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(group_name))
        group.permissions.set([perms[c] for c in codenames])
