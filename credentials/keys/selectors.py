"""Reads of APIs, API keys and runtime targets, ready to render (the same queries at any size)."""

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, TypedDict

from django.contrib.auth.models import Permission
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from credentials.keys.models import GATEWAY_FACTS, Api, ApiKey, KeyDeployment, KeySecret, RuntimeTarget
from portal import roles
from portal.models import User

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def api_catalog() -> QuerySet[Api]:
    return Api.objects.select_related("runtime_target").order_by("name")


def _latest_deployment_to_its_target(column: str) -> Subquery:
    """A column of the key's latest deployment to its API's current runtime target: what that
    gateway holds or waits for (a page's keys each probe the deployments' api_key index)."""
    latest = KeyDeployment.objects.filter(api_key=OuterRef("pk"), target=OuterRef("api__runtime_target"))
    return Subquery(latest.order_by("-pk").values(column)[:1])


def api_key_list(*, consumer: User) -> QuerySet[ApiKey]:
    """The consumer's keys (never anyone else's), with what My API Keys shows, in one query: API by
    API in name order (a page of them is one walk of the api_name and api_key_consumer_api
    indexes), the newest key of an API first, the id last so that pages never overlap. Each key
    carries how it stands at its API's gateway (ApiKey.gateway_standing)."""
    return (
        ApiKey.objects.filter(consumer=consumer)
        .exclude(status=ApiKey.Status.REJECTED, updated_at__lt=timezone.now() - timedelta(days=30))
        .select_related("api__runtime_target")
        .defer("api__runtime_target__signing_secret")  # encrypted: not decrypted for a page that shows a name
        .annotate(**{f"gateway_{column}": _latest_deployment_to_its_target(column) for column in GATEWAY_FACTS})
        .order_by("api__name", "-created_at", "pk")
    )


def api_key_of_consumer(*, consumer: User, pk: int) -> ApiKey:
    """One of the consumer's keys; another consumer's key answers 404, whatever the URL says."""
    return get_object_or_404(api_key_list(consumer=consumer), pk=pk)


def open_key_api_ids(*, consumer: User, api_ids: Iterable[int] | None = None) -> set[int]:
    """The APIs of which the consumer holds an open key: all of them, or those among `api_ids`
    (a page's: one index read of api_key_one_open_per_consumer_and_api, whatever the consumer holds)."""
    keys = ApiKey.objects.filter(consumer=consumer, status__in=ApiKey.OPEN_STATUSES).order_by()  # no join to Api
    if api_ids is not None:
        keys = keys.filter(api_id__in=api_ids)
    return set(keys.values_list("api_id", flat=True))


def key_secret_grace_list(*, api_key: ApiKey) -> QuerySet[KeySecret]:
    """Rotated secrets still in their grace period, for My API Keys."""
    return api_key.secrets.filter(valid_until__gt=timezone.now()).order_by("valid_until")


def key_secret_rotated_out(*, api_key: ApiKey) -> KeySecret | None:
    """The secret the key's last rotation replaced (its valid_until says until when it works)."""
    return api_key.secrets.filter(valid_until__isnull=False).order_by("-created_at", "-pk").first()


# --- Admin Center: APIs, their keys, runtime targets ---------------------------------------------
def api_admin_list() -> QuerySet[Api]:
    """Admin Center > APIs: each API with its provider, approvers, group and runtime target, and its
    count of usable keys: two queries (APIs, approvers) whatever the number of APIs or keys."""
    usable = Q(keys__status=ApiKey.Status.ACTIVE) & (
        Q(keys__expires_at__isnull=True) | Q(keys__expires_at__gt=timezone.now())
    )
    return (
        Api.objects.select_related("provider", "approver_group", "runtime_target")
        .prefetch_related(Prefetch("approvers", queryset=User.objects.order_by("first_name", "last_name", "username")))
        .annotate(active_key_count=Count("keys", filter=usable))
        .order_by("name", "pk")
    )


def api_admin_get(*, pk: int) -> Api:
    return get_object_or_404(
        Api.objects.select_related("provider", "approver_group", "runtime_target").prefetch_related("approvers"), pk=pk
    )


def api_key_admin_list(*, api: Api, q: str = "") -> QuerySet[ApiKey]:
    """The keys of one API with their consumers, in one query: usable keys first, the soonest
    expiry first and unlimited ones after them; revoked and rejected keys last."""
    keys = ApiKey.objects.filter(api=api).select_related("consumer", "api")
    if q:
        keys = keys.filter(
            Q(consumer__username__icontains=q)
            | Q(consumer__email__icontains=q)
            | Q(consumer__first_name__icontains=q)
            | Q(consumer__last_name__icontains=q)
            | Q(prefix__icontains=q)
        )
    closed = Case(When(status__in=ApiKey.OPEN_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
    return keys.annotate(closed=closed).order_by("closed", F("expires_at").asc(nulls_last=True), "-created_at", "pk")


def api_key_admin_get(*, api: Api, pk: int) -> ApiKey:
    """One key of the API; a key of another API answers 404, whatever the URL says."""
    return get_object_or_404(ApiKey.objects.filter(api=api).select_related("consumer", "api"), pk=pk)


def _has_portal_perm(perms: tuple[str, ...]) -> Exists:
    codenames = [perm.split(".", 1)[1] for perm in perms]
    return Exists(
        Permission.objects.filter(group__user=OuterRef("pk"), content_type__app_label="portal", codename__in=codenames)
    )


class ApproverRoles(TypedDict):
    """What approver_candidates() annotates each user with."""

    is_approver: bool
    is_hub_admin: bool


def approver_candidates() -> "QuerySet[WithAnnotations[User, ApproverRoles]]":
    """Active users who may be named approvers, each marked with whether their role lets them
    decide in the Approvals inbox (is_approver) or run the Admin Center (is_hub_admin); one query."""
    return (
        User.objects.filter(is_active=True)
        .annotate(
            is_approver=_has_portal_perm(roles.APPROVER_PERMS), is_hub_admin=_has_portal_perm(roles.HUB_ADMIN_PERMS)
        )
        .order_by("first_name", "last_name", "username")
    )


def _count_of(queryset: QuerySet, column: str) -> Coalesce:
    counted = queryset.order_by().values(column).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


STUCK_KEYS_SHOWN = 20  # Admin Center > Runtime targets: the waiting and refused keys listed per target


def _latest_deployments() -> QuerySet[KeyDeployment]:
    """Each key's latest deployment to each target it was sent to: what that target holds, or
    waits for. (Only the latest can be pending: a newer one supersedes it.)"""
    newer = KeyDeployment.objects.filter(api_key=OuterRef("api_key"), target=OuterRef("target"), pk__gt=OuterRef("pk"))
    return KeyDeployment.objects.filter(~Exists(newer))


def runtime_target_list() -> QuerySet[RuntimeTarget]:
    """Admin Center > Runtime targets, with how many APIs use each and how its keys stand there
    (live, waiting, refused), and the first STUCK_KEYS_SHOWN waiting or refused ones: two queries
    whatever the number of targets, APIs, keys or deployments."""
    now = timezone.now()
    latest = _latest_deployments().filter(target=OuterRef("pk"))
    live = latest.filter(
        Q(api_key__expires_at__isnull=True) | Q(api_key__expires_at__gt=now),
        state=KeyDeployment.State.DEPLOYED,
        api_key__status=ApiKey.Status.ACTIVE,
        api_key__api__runtime_target=OuterRef("pk"),  # a target the API left holds its keys removed
    )
    refused_first = Case(When(state=KeyDeployment.State.FAILED, then=Value(0)), default=Value(1))
    stuck = (
        _latest_deployments()
        .filter(state__in=(KeyDeployment.State.PENDING, KeyDeployment.State.FAILED))
        .select_related("api_key__api", "api_key__consumer")
        .defer("payload")
        .order_by(refused_first, "pk")  # refused first (someone must act), each the oldest first
    )
    return (
        RuntimeTarget.objects.defer("signing_secret")  # encrypted: the list shows no secret
        .annotate(
            api_count=_count_of(Api.objects.filter(runtime_target=OuterRef("pk")), "runtime_target"),
            live_keys=_count_of(live, "target"),
            waiting_keys=_count_of(latest.filter(state=KeyDeployment.State.PENDING), "target"),
            refused_keys=_count_of(latest.filter(state=KeyDeployment.State.FAILED), "target"),
        )
        # One query for every target's list: Django numbers each target's rows (ROW_NUMBER()) and keeps the first.
        .prefetch_related(Prefetch("deployments", queryset=stuck[:STUCK_KEYS_SHOWN], to_attr="stuck_deployments"))
        .order_by("name")
    )


def runtime_target_get(*, pk: int) -> RuntimeTarget:
    return get_object_or_404(RuntimeTarget, pk=pk)
