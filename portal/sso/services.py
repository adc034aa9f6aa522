"""A single sign-on, once the provider's answer is verified: the account, its roles, the audit trail.

The provider is the source of the roles that PORTICO_OIDC_GROUP_ROLES names: on every sign-in
the user gets those its groups give and loses those they no longer give. Roles the mapping does
not name (given in Portico, e.g. Approver when no group maps to it) are left as they are.
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from portal import audit
from portal.models import Organization, User
from portal.sso.config import GROUPS_CLAIM, provider_host, roles_for_groups
from portal.sso.models import SsoIdentity

ASK_ADMIN = "Ask your administrator for access."


class SignInRefused(Exception):
    """The provider vouched for the person, but Portico does not let them in. The message is for them."""


@dataclass(frozen=True)
class VerifiedClaims:
    """What Portico takes from a verified ID token and the userinfo answer."""

    issuer: str
    subject: str
    preferred_username: str
    email: str
    first_name: str
    last_name: str
    groups: tuple[str, ...]
    organization_slug: str

    @classmethod
    def from_claims(cls, claims: dict[str, Any], *, issuer: str, organization_claim: str) -> "VerifiedClaims":
        def text(name: str, limit: int) -> str:
            value = claims.get(name)
            return value.strip()[:limit] if isinstance(value, str) else ""

        groups = claims.get(GROUPS_CLAIM)
        return cls(
            issuer=issuer,
            subject=str(claims["sub"]),
            preferred_username=text("preferred_username", 150),
            email=text("email", 254) if claims.get("email_verified", True) is not False else "",
            first_name=text("given_name", 150),
            last_name=text("family_name", 150),
            groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
            organization_slug=text(organization_claim, 60),
        )


def _unused_username(claims: VerifiedClaims) -> str:
    """The provider's user name where Portico has no such user yet; else that name with a short
    digest of the subject, so a provider user never takes over a local account by its name."""
    wanted = claims.preferred_username or claims.email.partition("@")[0] or claims.subject
    base = re.sub(r"[^\w.@+-]", "-", wanted)[:130] or "sso-user"
    if not User.objects.filter(username=base).exists():
        return base
    digest = hashlib.sha256(f"{claims.issuer} {claims.subject}".encode()).hexdigest()
    for length in (6, 12, 64):
        candidate = f"{base}-{digest[:length]}"[:150]
        if not User.objects.filter(username=candidate).exists():
            return candidate
    raise SignInRefused(f"Portico has no free user name for your account. {ASK_ADMIN}")


def _sync_roles(*, user: User, given: dict[str, str], governed: set[str], host: str) -> None:
    """Give the user the governed roles its groups give and take away the governed roles they don't."""
    current = set(user.groups.values_list("name", flat=True))
    for role in sorted(set(given) - current):
        user.groups.add(Group.objects.get(name=role))
        audit.record(
            action="user.role_add",
            target=user,
            actor=user,
            summary=f"Role {role} given: group {given[role]} at {host}",
        )
    for role in sorted((current & governed) - set(given)):
        user.groups.remove(Group.objects.get(name=role))
        audit.record(
            action="user.role_remove",
            target=user,
            actor=user,
            summary=f"Role {role} taken away: no group at {host} gives it any more",
        )


def _refuse(*, claims: VerifiedClaims, user: User | None, message: str, reason: str) -> SignInRefused:
    audit.record(
        action="sso.sign_in_refused",
        target=user,
        actor=user,
        organization=user.organization if user is not None else None,
        summary=f"Single sign-on of {claims.preferred_username or claims.subject} at "
        f"{provider_host(claims.issuer)} refused: {reason}",
    )
    return SignInRefused(message)


def _sign_in_or_refuse(*, claims: VerifiedClaims, mapping: dict[str, frozenset[str]]) -> User | SignInRefused:
    host = provider_host(claims.issuer)
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=claims.issuer, subject=claims.subject)
        .first()
    )
    user = identity.user if identity is not None else None
    governed = {role for roles in mapping.values() for role in roles}
    given = roles_for_groups(list(claims.groups), mapping)
    if not given:
        if user is not None:
            # The person left every group that gives a role: their sessions lose the roles too.
            _sync_roles(user=user, given={}, governed=governed, host=host)
        return _refuse(
            claims=claims,
            user=user,
            message=f"Your account at {host} is in no group that gives a Portico role. {ASK_ADMIN}",
            reason="in no group that gives a Portico role",
        )
    organization = Organization.objects.filter(slug=claims.organization_slug).first()
    if organization is None:
        named = (
            f"names the organization “{claims.organization_slug}”"
            if claims.organization_slug
            else "names no organization"
        )
        return _refuse(
            claims=claims,
            user=user,
            message=f"Your account at {host} {named}, which Portico does not know. {ASK_ADMIN}",
            reason=f"unknown organization {claims.organization_slug!r}",
        )
    if not organization.is_active:
        return _refuse(
            claims=claims,
            user=user,
            message=f"Your organization {organization.name} is deactivated in Portico. {ASK_ADMIN}",
            reason=f"organization {organization.slug} is deactivated",
        )
    if user is None:
        # No password (an unusable one): this account signs in through the provider only.
        user = User.objects.create_user(
            username=_unused_username(claims),
            email=claims.email,
            password=None,
            first_name=claims.first_name,
            last_name=claims.last_name,
            organization=organization,
        )
        identity = SsoIdentity.objects.create(user=user, issuer=claims.issuer, subject=claims.subject)
        audit.record(
            action="sso.account_create",
            target=user,
            actor=user,
            summary=f"Account created at first single sign-on: {claims.subject} at {host}",
        )
    elif not user.is_active:
        return _refuse(
            claims=claims,
            user=user,
            message=f"Your Portico account is deactivated. {ASK_ADMIN}",
            reason="the account is deactivated",
        )
    elif user.organization_id != organization.pk:
        # Moving a person to another organization moves what they may see: an administrator's call.
        return _refuse(
            claims=claims,
            user=user,
            message=f"Your account at {host} names another organization than your Portico account. {ASK_ADMIN}",
            reason=f"the provider names organization {organization.slug}",
        )
    else:
        profile = {"email": claims.email, "first_name": claims.first_name, "last_name": claims.last_name}
        changed = [field for field, value in profile.items() if value and getattr(user, field) != value]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)
    _sync_roles(user=user, given=given, governed=governed, host=host)
    assert identity is not None  # noqa: S101 - found or created above
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    audit.record(
        action="sso.sign_in",
        target=user,
        actor=user,
        summary=f"Signed in with single sign-on at {host} as {claims.subject}; roles: {', '.join(sorted(given))}",
    )
    return user


def sso_sign_in(*, claims: VerifiedClaims, mapping: dict[str, frozenset[str]]) -> User:
    """The user of these verified claims, created at their first sign-in, with the roles their groups
    give; audits the sign-in and every role change. Raises SignInRefused (audited, no account made)."""
    # The refusal is audited in the transaction and raised after it commits.
    with transaction.atomic():
        outcome = _sign_in_or_refuse(claims=claims, mapping=mapping)
    if isinstance(outcome, SignInRefused):
        raise outcome
    return outcome
