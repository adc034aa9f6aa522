"""The single sign-on settings, read and checked: which issuer to trust, which groups give which role.

Plain functions over values, so the system check (portal.checks), the views and the tests share
one reading of PORTICO_OIDC_*.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

from portal.roles import Role

# How far the provider's clock may be off from ours when the ID token's times are checked.
CLOCK_SKEW_LEEWAY_SECONDS = 60
GROUPS_CLAIM = "groups"


class GroupRolesError(ValueError):
    pass


def sso_enabled() -> bool:
    """Whether single sign-on is configured (an issuer is set)."""
    return bool(settings.PORTICO_OIDC_ISSUER)


def local_login_enabled() -> bool:
    return bool(settings.PORTICO_LOCAL_LOGIN)


def provider_host(issuer: str | None = None) -> str:
    """The provider's host (and port) for messages: 'login.example.com'."""
    return urlsplit(issuer if issuer is not None else settings.PORTICO_OIDC_ISSUER).netloc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, *, debug: bool) -> str | None:
    """Why this provider URL (the issuer or an endpoint of its discovery document) cannot be used, or None.

    https only; http only for a loopback host with DEBUG on (tests and demos on one machine).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is no number
    except ValueError:
        return "it is not a URL"
    if not parts.hostname or parts.scheme not in {"https", "http"}:
        return "it is not an https:// URL"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "it must not carry a user, a password, a query or a fragment"
    if parts.scheme == "http":
        if not _is_loopback(parts.hostname):
            return "it is http://, not https:// (http is only accepted on loopback with DEBUG on)"
        if not debug:
            return "it is http:// on loopback, which is only accepted with DEBUG on (tests and demos)"
    return None


def parse_group_roles(value: str) -> dict[str, frozenset[str]]:
    """`group=Role,group=Role` -> {group: {role, ...}}; a group named twice gives both roles.

    Raises GroupRolesError naming every entry it cannot read and every unknown role."""
    known = {str(role) for role in Role}
    mapping: dict[str, set[str]] = {}
    malformed: list[str] = []
    unknown: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        group, sep, role = (piece.strip() for piece in item.partition("="))
        if not sep or not group or not role:
            malformed.append(item)
        elif role not in known:
            unknown.append(role)
        else:
            mapping.setdefault(group, set()).add(role)
    problems = []
    if malformed:
        problems.append("entries not of the form <group>=<role>: " + ", ".join(repr(m) for m in malformed))
    if unknown:
        problems.append(
            "unknown roles: " + ", ".join(repr(u) for u in unknown) + " (roles: " + ", ".join(sorted(known)) + ")"
        )
    if problems:
        raise GroupRolesError("; ".join(problems))
    return {group: frozenset(roles) for group, roles in mapping.items()}


def group_roles() -> dict[str, frozenset[str]]:
    """The configured mapping, as {provider group: {Portico role, ...}}."""
    return parse_group_roles(settings.PORTICO_OIDC_GROUP_ROLES)


def roles_for_groups(groups: object, mapping: dict[str, frozenset[str]]) -> dict[str, str]:
    """The roles these provider groups give, each with the (first) group that gives it: {role: group}."""
    if not isinstance(groups, list | tuple):
        return {}
    given: dict[str, str] = {}
    for group in sorted(g for g in groups if isinstance(g, str)):
        for role in sorted(mapping.get(group, ())):
            given.setdefault(role, group)
    return given


def configuration_problems(*, debug: bool) -> list[tuple[str, str, str]]:
    """What stops single sign-on or every sign-in from working, as (check id, problem, hint).

    portico.E003 the issuer, E004 the group mapping or organization claim, E005 the client,
    E006 no way to sign in at all."""
    problems: list[tuple[str, str, str]] = []
    issuer = settings.PORTICO_OIDC_ISSUER
    if not issuer:
        if not local_login_enabled():
            problems.append(
                (
                    "portico.E006",
                    "PORTICO_LOCAL_LOGIN is false and PORTICO_OIDC_ISSUER is not set: nobody can sign in.",
                    "Set PORTICO_OIDC_ISSUER (and its client) or PORTICO_LOCAL_LOGIN=true.",
                )
            )
        return problems
    problem = url_problem(issuer, debug=debug)
    if problem:
        problems.append(
            (
                "portico.E003",
                f"PORTICO_OIDC_ISSUER {issuer!r}: {problem}.",
                "Set it to your provider's https:// issuer URL.",
            )
        )
    missing = [
        name for name in ("PORTICO_OIDC_CLIENT_ID", "PORTICO_OIDC_CLIENT_SECRET") if not getattr(settings, name, "")
    ]
    if missing:
        problems.append(
            (
                "portico.E005",
                f"PORTICO_OIDC_ISSUER is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not.",
                "Register Portico with the provider (redirect URI <portal>/oidc/callback/) and set its client ID "
                "and secret.",
            )
        )
    try:
        mapping = parse_group_roles(settings.PORTICO_OIDC_GROUP_ROLES)
    except GroupRolesError as error:
        problems.append(
            (
                "portico.E004",
                f"PORTICO_OIDC_GROUP_ROLES: {error}.",
                "Write it as <provider group>=<Portico role>, comma-separated, "
                "e.g. portal-hub-admins=Hub admin,portal-consumers=Consumer.",
            )
        )
    else:
        if not mapping:
            problems.append(
                (
                    "portico.E004",
                    "PORTICO_OIDC_GROUP_ROLES names no group: every single sign-on would be refused.",
                    "e.g. PORTICO_OIDC_GROUP_ROLES=portal-hub-admins=Hub admin,portal-consumers=Consumer",
                )
            )
    if not settings.PORTICO_OIDC_ORGANIZATION_CLAIM:
        problems.append(
            (
                "portico.E004",
                "PORTICO_OIDC_ORGANIZATION_CLAIM is empty.",
                "Name the claim that carries the user's organization slug.",
            )
        )
    return problems
