"""Demo data for `make run`: one organization and one user per role. Idempotent."""

from django.contrib.auth.models import Group
from django.db import transaction

from portal.models import Organization, User
from portal.roles import Role, ensure_role_groups

DEMO_PASSWORD = "portico-demo"  # noqa: S105 - demo data only; seed_demo refuses to run outside DEBUG

DEMO_USERS: list[tuple[str, str, str, tuple[Role, ...]]] = [
    ("consumer", "Casey", "Consumer", (Role.CONSUMER,)),
    ("org-admin", "Olivia", "Org-Admin", (Role.ORG_ADMIN,)),
    ("tenant-admin", "Theo", "Tenant-Admin", (Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION)),
    ("hub-admin", "Hannah", "Hub-Admin", (Role.HUB_ADMIN,)),
    ("approver", "Avery", "Approver", (Role.APPROVER,)),
]


@transaction.atomic
def seed_accounts() -> Organization:
    """The `acme` organization and the five demo users, each with exactly its role's groups."""
    ensure_role_groups()
    organization, _ = Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme Corporation"})
    for username, first, last, user_roles in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username)
        wanted = {"first_name": first, "last_name": last, "email": f"{username}@acme.example"}
        changed = [field for field, value in wanted.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, wanted[field])
        if user.organization_id != organization.pk:
            user.organization = organization
            changed.append("organization")
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            changed.append("password")
        # Only what differs: a second run writes nothing (a full save would also bump the user's
        # keys for the gateway, as a save that may change is_active does).
        if changed:
            user.save(update_fields=changed)
        user.groups.set(Group.objects.filter(name__in=[str(r) for r in user_roles]))
    return organization
