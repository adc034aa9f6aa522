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
        user.first_name, user.last_name = first, last
        user.email = f"{username}@acme.example"
        user.organization = organization
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set(Group.objects.filter(name__in=[str(r) for r in user_roles]))
    return organization
