"""Admin Center writes: APIs with their consumption settings, and runtime targets (audited)."""

from dataclasses import dataclass
from secrets import token_urlsafe

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from credentials.keys.models import Api, ApiKey, KeyDeployment, RuntimeTarget
from credentials.keys.services import api_key_deploy, api_key_remove_from_target
from credentials.lib import crypto
from portal import audit
from portal.models import Organization, User

MAX_KEY_LIFETIME_DAYS = 3650


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """An API's name and consumption settings, as the Admin Center's form gives them."""

    name: str
    slug: str
    description: str
    provider: Organization
    key_lifetime_days: int | None  # None: keys never expire
    renewal_requires_approval: bool
    approval_mode: str
    approvers: tuple[User, ...]
    approver_group: Group | None
    runtime_target: RuntimeTarget | None

    @classmethod
    def of(cls, api: Api) -> "ApiSettings":
        return cls(
            name=api.name,
            slug=api.slug,
            description=api.description,
            provider=api.provider,
            key_lifetime_days=api.key_lifetime_days,
            renewal_requires_approval=api.renewal_requires_approval,
            approval_mode=api.approval_mode,
            approvers=tuple(api.approvers.all()),
            approver_group=api.approver_group,
            runtime_target=api.runtime_target,
        )

    def check(self) -> None:
        """The rules of consumption settings, whoever calls; ValidationError names the field."""
        errors: dict[str, str] = {}
        lifetime = self.key_lifetime_days
        if lifetime is not None and not 1 <= lifetime <= MAX_KEY_LIFETIME_DAYS:
            errors["key_lifetime_days"] = (
                f"The key lifetime is between 1 and {MAX_KEY_LIFETIME_DAYS} days; "
                "choose Unlimited for keys that never expire."
            )
        if self.approval_mode not in Api.ApprovalMode.values:
            errors["approval_mode"] = "Choose “Any one approver” or “All approvers”."
        if self.renewal_requires_approval and not self.approvers and self.approver_group is None:
            errors["approvers"] = "Renewal needs approval: choose at least one approver or an approver group."
        if any(not user.is_active for user in self.approvers):
            errors["approvers"] = "Only active users can be approvers."
        if errors:
            raise ValidationError(errors)

    def facts(self) -> dict[str, str]:
        """The audited facts, as people read them."""
        return {
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
            "provider": str(self.provider),
            "key lifetime": "Unlimited" if self.key_lifetime_days is None else f"{self.key_lifetime_days} days",
            "renewal approval": "required" if self.renewal_requires_approval else "not required",
            "approval mode": Api.ApprovalMode(self.approval_mode).label,
            "approvers": ", ".join(sorted(user.username for user in self.approvers)) or "none",
            "approver group": self.approver_group.name if self.approver_group else "none",
            "runtime target": self.runtime_target.name if self.runtime_target else "none",
        }

    def apply_to(self, api: Api) -> None:
        """Set the fields of `api` (not its approvers, which need it saved)."""
        api.name = self.name
        api.slug = self.slug
        api.description = self.description
        api.provider = self.provider
        api.key_lifetime_days = self.key_lifetime_days
        api.renewal_requires_approval = self.renewal_requires_approval
        api.approval_mode = self.approval_mode
        api.approver_group = self.approver_group
        api.runtime_target = self.runtime_target


def _snapshot_summary(facts: dict[str, str]) -> str:
    return "; ".join(f"{label} {value}" for label, value in facts.items() if label not in ("name", "description"))


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changes = []
    for label, old in before.items():
        new = after[label]
        if old == new:
            continue
        changes.append("description edited" if label == "description" else f"{label} {old} → {new}")
    return changes


def _slug_taken(slug: str) -> ValidationError:
    return ValidationError({"slug": f"Another API already uses the slug “{slug}”."})


def api_create(*, settings: ApiSettings, created_by: User) -> Api:
    """Create an API with its consumption settings (audited). ValidationError names the field."""
    settings.check()
    try:
        with transaction.atomic():
            api = Api()
            settings.apply_to(api)
            api.save()
            api.approvers.set(settings.approvers)
            audit.record(
                action="api.create",
                target=api,
                actor=created_by,
                organization=settings.provider,
                summary=f"Created API {api.name}: {_snapshot_summary(ApiSettings.of(api).facts())}",
            )
    except IntegrityError as exc:  # the slug's unique index: a concurrent create took it
        raise _slug_taken(settings.slug) from exc
    return api


def api_update(*, api_id: int, settings: ApiSettings, updated_by: User) -> Api:
    """Change an API's consumption settings (audited, before → after). A new lifetime applies to
    keys issued or renewed from now on. A new runtime target gets every usable key deployed to it.
    Saving unchanged settings changes and records nothing."""
    settings.check()
    try:
        with transaction.atomic():
            api = (
                Api.objects.select_for_update(of=("self",))
                .select_related("provider", "runtime_target", "approver_group")
                .get(pk=api_id)
            )
            changes = _changes(ApiSettings.of(api).facts(), settings.facts())
            if not changes:
                return api  # nothing changed (a second click, or Save without edits): nothing to record
            previous_target_id = api.runtime_target_id
            settings.apply_to(api)
            api.save()
            api.approvers.set(settings.approvers)
            if api.runtime_target_id != previous_target_id:
                deployed = _deploy_open_keys(api, previous_target_id)
                if deployed:
                    changes.append(f"{deployed} key{'s' if deployed != 1 else ''} queued for deployment")
            audit.record(
                action="api.update",
                target=api,
                actor=updated_by,
                organization=api.provider,
                summary=f"Updated API {api.name}: " + "; ".join(changes),
            )
    except IntegrityError as exc:
        raise _slug_taken(settings.slug) from exc
    return api


def _deploy_open_keys(api: Api, previous_target_id: int | None) -> int:
    """The API moved to another runtime target (or to none): send each usable key's state to the
    new one, and tell the previous one to drop every key it was sent, so none stays usable there."""
    # of=("self",): lock the keys, not the consumers joined in for the payload.
    keys = ApiKey.objects.select_for_update(of=("self",)).filter(api=api).select_related("consumer").order_by("pk")
    previous = RuntimeTarget.objects.filter(pk=previous_target_id).first() if previous_target_id else None
    sent_there = (
        set(KeyDeployment.objects.filter(target=previous, api_key__api=api).values_list("api_key_id", flat=True))
        if previous
        else set()
    )
    count = 0
    for key in keys:
        key.api = api
        if previous is not None and key.pk in sent_there:
            api_key_remove_from_target(api_key=key, target=previous)
        if key.status in (ApiKey.Status.ACTIVE, ApiKey.Status.EXPIRED):
            api_key_deploy(api_key=key, reason="changed")
            count += 1
    return count if api.runtime_target_id else 0


def runtime_target_retry_failed(*, target_id: int, retried_by: User | None) -> int:
    """An operator sends again what a gateway refused (after fixing what made it refuse): each key
    whose latest deployment to this target failed gets its current state for it queued anew
    (audited). Returns how many."""
    with transaction.atomic():
        target = RuntimeTarget.objects.select_for_update().get(pk=target_id)
        failed_key_ids = sorted(
            set(
                KeyDeployment.objects.filter(target=target, state=KeyDeployment.State.FAILED).values_list(
                    "api_key_id", flat=True
                )
            )
        )
        keys = (
            ApiKey.objects.select_for_update(of=("self",))
            .filter(pk__in=failed_key_ids)
            .select_related("api__runtime_target", "consumer")
            .order_by("pk")
        )
        count = 0
        for key in keys:
            latest = KeyDeployment.objects.filter(api_key=key, target=target).order_by("-created_at", "-pk").first()
            if latest is None or latest.state != KeyDeployment.State.FAILED:
                continue  # sent again already, or superseded by a newer state
            if key.api.runtime_target_id == target.pk:
                api_key_deploy(api_key=key, reason="retried")
            else:
                api_key_remove_from_target(api_key=key, target=target)
            count += 1
        audit.record(
            action="runtime_target.retry_failed",
            target=target,
            actor=retried_by,
            summary=f"Queued {count} failed deployment{'s' if count != 1 else ''} to {target.name} again",
        )
    return count


# --- Runtime targets (Admin Center) ---------------------------------------------------------------
@dataclass(frozen=True)
class TargetCredentials:
    """A runtime target's new credentials, returned once: Portico keeps the signing secret only
    encrypted and the verify token only as a keyed hash."""

    signing_secret: str
    verify_token: str
    verify_token_prefix: str

    def __repr__(self) -> str:  # never print the values by accident
        return f"TargetCredentials(verify_token_prefix={self.verify_token_prefix!r})"


@sensitive_variables("signing_secret", "token")
def _new_target_credentials(target: RuntimeTarget) -> TargetCredentials:
    signing_secret = token_urlsafe(32)
    token = crypto.generate_secret("gw")
    target.signing_secret = signing_secret
    target.verify_token_prefix = token.prefix
    target.verify_token_digest = token.digest
    return TargetCredentials(signing_secret=signing_secret, verify_token=token.value, verify_token_prefix=token.prefix)


def _target_name_taken(name: str) -> ValidationError:
    return ValidationError({"name": f"Another runtime target is called “{name}”."})


@sensitive_variables("credentials")
def runtime_target_create(
    *, name: str, base_url: str, health_url: str, created_by: User
) -> tuple[RuntimeTarget, TargetCredentials]:
    """Register a gateway with a new signing secret and verify token, returned once (audited by
    the token's prefix only). ValidationError names the field."""
    target = RuntimeTarget(name=name, base_url=base_url, health_url=health_url)
    credentials = _new_target_credentials(target)
    try:
        with transaction.atomic():
            target.save()
            audit.record(
                action="runtime_target.create",
                target=target,
                actor=created_by,
                summary=(
                    f"Created runtime target {name} ({base_url}) with a new signing secret and "
                    f"verify token {credentials.verify_token_prefix}"
                ),
            )
    except IntegrityError as exc:
        raise _target_name_taken(name) from exc
    return target, credentials


def runtime_target_update(
    *, target_id: int, name: str, base_url: str, health_url: str, updated_by: User
) -> RuntimeTarget:
    """Rename or move a gateway (audited, before → after). New URLs make its health unknown until
    the next check. Saving unchanged values changes and records nothing."""
    try:
        with transaction.atomic():
            target = RuntimeTarget.objects.select_for_update().get(pk=target_id)
            before = {"name": target.name, "base URL": target.base_url, "health URL": target.health_url or "none"}
            after = {"name": name, "base URL": base_url, "health URL": health_url or "none"}
            changes = [f"{label} {before[label]} → {after[label]}" for label in before if before[label] != after[label]]
            if not changes:
                return target
            fields = ["name", "base_url", "health_url"]
            if (target.base_url, target.health_url) != (base_url, health_url):
                target.health = RuntimeTarget.Health.UNKNOWN
                target.health_checked_at = None
                target.health_message = "The URLs changed; not checked since."
                fields += ["health", "health_checked_at", "health_message"]
            target.name, target.base_url, target.health_url = name, base_url, health_url
            target.save(update_fields=fields)
            audit.record(
                action="runtime_target.update",
                target=target,
                actor=updated_by,
                summary=f"Updated runtime target {name}: " + "; ".join(changes),
            )
    except IntegrityError as exc:
        raise _target_name_taken(name) from exc
    return target


@sensitive_variables("credentials")
def runtime_target_regenerate_credentials(
    *, target_id: int, regenerated_by: User
) -> tuple[RuntimeTarget, TargetCredentials]:
    """Replace a gateway's signing secret and verify token; the old ones stop working at once.
    The new ones are returned once (audited by the token's prefix only)."""
    with transaction.atomic():
        target = RuntimeTarget.objects.select_for_update().get(pk=target_id)
        old_prefix = target.verify_token_prefix
        credentials = _new_target_credentials(target)
        target.save(update_fields=["signing_secret", "verify_token_prefix", "verify_token_digest"])
        audit.record(
            action="runtime_target.regenerate_credentials",
            target=target,
            actor=regenerated_by,
            summary=(
                f"Regenerated the signing secret and verify token of {target.name}: "
                f"verify token {old_prefix} replaced by {credentials.verify_token_prefix}"
            ),
        )
    return target, credentials
