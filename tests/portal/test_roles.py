import pytest
from django.contrib.auth.models import Group, Permission

from portal import roles
from portal.roles import ensure_role_groups
from tests.factories import UserFactory

# What each role may do, written out from the design rather than copied from portal.roles, so a
# wrong mapping there fails here.
EXPECTED_GROUP_PERMISSIONS = {
    "Consumer": {"browse_apis", "hold_api_keys"},
    "Organization admin": {"browse_apis", "manage_connection_api_credentials"},
    "APIPortal.Administrator": {"browse_apis", "administer_api_portal"},
    "AuthGroup.APIPortalRegistration": {"browse_apis", "register_api_portal"},
    "Hub admin": {"browse_apis", "use_admin_center"},
    "Approver": {"browse_apis", "decide_key_renewals"},
}

CAST = ["consumer", "org_admin", "tenant_admin", "hub_admin", "approver", "outsider"]


def group_codenames(name: str) -> set[str]:
    return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))


def role_state() -> dict[str, set[str]]:
    return {name: group_codenames(name) for name in EXPECTED_GROUP_PERMISSIONS}


def test_every_role_group_exists_after_migrate(db):
    names = set(Group.objects.values_list("name", flat=True))

    assert set(EXPECTED_GROUP_PERMISSIONS) <= names


@pytest.mark.parametrize("group_name", sorted(EXPECTED_GROUP_PERMISSIONS))
def test_each_role_group_grants_exactly_its_permissions(db, group_name):
    assert group_codenames(group_name) == EXPECTED_GROUP_PERMISSIONS[group_name]


def test_role_permissions_belong_to_the_portal_app(db):
    perms = Permission.objects.filter(group__name__in=EXPECTED_GROUP_PERMISSIONS).distinct()

    assert {p.content_type.app_label for p in perms} == {"portal"}


def test_ensure_role_groups_twice_creates_no_duplicates(db):
    groups_before = Group.objects.count()
    perms_before = Permission.objects.count()
    state_before = role_state()

    ensure_role_groups()
    ensure_role_groups()

    assert Group.objects.count() == groups_before
    assert Permission.objects.count() == perms_before
    assert role_state() == state_before


def test_ensure_role_groups_restores_a_group_that_was_edited_by_hand(db):
    hub_admins = Group.objects.get(name="Hub admin")
    hub_admins.permissions.remove(Permission.objects.get(codename="use_admin_center"))
    hub_admins.permissions.add(Permission.objects.get(codename="decide_key_renewals"))
    Group.objects.get(name="Approver").delete()

    ensure_role_groups()

    assert role_state() == EXPECTED_GROUP_PERMISSIONS


def test_ensure_role_groups_keeps_the_users_in_their_groups(hub_admin):
    ensure_role_groups()

    hub_admin.refresh_from_db()
    assert list(hub_admin.groups.values_list("name", flat=True)) == ["Hub admin"]


@pytest.mark.parametrize("who", CAST)
def test_only_the_hub_admin_may_use_the_admin_center(db, request, who):
    user = request.getfixturevalue(who)

    assert user.has_perms(roles.HUB_ADMIN_PERMS) is (who == "hub_admin")


@pytest.mark.parametrize("who", CAST)
def test_only_the_tenant_admin_holds_both_api_portal_roles(db, request, who):
    user = request.getfixturevalue(who)

    assert user.has_perms(roles.TENANT_ADMIN_PERMS) is (who == "tenant_admin")


@pytest.mark.parametrize("role", [roles.Role.API_PORTAL_ADMINISTRATOR, roles.Role.API_PORTAL_REGISTRATION])
def test_one_api_portal_role_alone_does_not_make_a_tenant_admin(organization, role):
    user = UserFactory(organization=organization, roles=(role,))

    assert not user.has_perms(roles.TENANT_ADMIN_PERMS)


@pytest.mark.parametrize(
    ("who", "perms"),
    [
        ("consumer", roles.CONSUMER_PERMS),
        ("org_admin", roles.ORG_ADMIN_PERMS),
        ("approver", roles.APPROVER_PERMS),
    ],
)
def test_each_role_holds_the_permissions_its_pages_ask_for(db, request, who, perms):
    user = request.getfixturevalue(who)

    assert user.has_perms(perms)
    assert not user.has_perms(roles.HUB_ADMIN_PERMS)


@pytest.mark.parametrize("who", CAST)
def test_every_role_may_browse_the_api_catalog(db, request, who):
    assert request.getfixturevalue(who).has_perm("portal.browse_apis")


def test_a_deactivated_hub_admin_loses_the_admin_center(hub_admin):
    hub_admin.is_active = False
    hub_admin.save()

    assert not hub_admin.has_perms(roles.HUB_ADMIN_PERMS)
