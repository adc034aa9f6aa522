from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse

from portal import roles
from portal.models import User


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    section: str


def nav_items_for(user: User | AnonymousUser) -> list[NavItem]:
    """The header's navigation: only the sections this user's roles may open."""
    if not getattr(user, "is_authenticated", False):
        return []
    items = [NavItem("Home", reverse("home"), "home")]
    if user.has_perms(roles.BROWSE_APIS_PERMS):
        items.append(NavItem("APIs", reverse("credentials:api-catalog"), "apis"))
    if user.has_perms(roles.CONSUMER_PERMS):
        items.append(NavItem("My API Keys", reverse("credentials:my-api-keys"), "keys"))
    if user.has_perms(roles.ORG_ADMIN_PERMS):
        items.append(NavItem("Account", reverse("credentials:account"), "account"))
    if user.has_perms(roles.TENANT_ADMIN_PERMS):
        items.append(NavItem("Manage", reverse("manage"), "manage"))
    if user.has_perms(roles.APPROVER_PERMS):
        items.append(NavItem("Approvals", reverse("approvals:inbox"), "approvals"))
    if user.has_perms(roles.HUB_ADMIN_PERMS):
        items.append(NavItem("Admin Center", reverse("admin-center"), "admin-center"))
    return items


def navigation(request: HttpRequest) -> dict[str, object]:
    return {
        "nav_items": nav_items_for(request.user) if hasattr(request, "user") else [],
        "site_name": settings.SITE_NAME,
    }
