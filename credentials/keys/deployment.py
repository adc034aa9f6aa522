"""The "Deploy Access Key" step: send a key's state to its API's runtime target, and keep trying
until the target accepts it (the contract: docs/runtime-target-contract.md).

The KeyDeployment row is the queue. `credentials.keys.services.api_key_deploy` writes it (pending, due
now) in the transaction of the key's change and enqueues `deploy_access_key` after commit.
`deliver()` then:

1. claims the row by compare-and-set: pending and due -> attempts + 1, next_attempt_at pushed
   out by a lease longer than the task's hard time limit. A second worker holding the same id
   (the countdown retry, the sweep, a redelivered message) finds it not due and leaves it alone;
   a worker that dies mid-send leaves a row that becomes due again when the lease ends;
2. sends it, outside any transaction, to the one address it resolved and checked
   (`credentials.lib.outbound.send_to_checked_host`: no private addresses, no redirects, no proxies);
3. records the outcome by compare-and-set on the claim (still pending, same attempt count), so a
   row superseded meanwhile, or claimed again after a lease ran out, is not overwritten.

A failure that may pass (no connection, timeout, 408, 429, 5xx) keeps the row pending and due
again after an exponential backoff; the Celery retry with a countdown only makes that prompt.
If the broker loses it, `retry_due_deployments` (beat, every minute) finds the row anyway.
Nothing is lost short of deleting the row. A refusal (any other 4xx) fails the deployment.

Logs, errors and audit lines name the deployment, the key's prefix and the target; never the
signing secret, the signature or the payload.
"""

import hashlib
import hmac
import json
import logging
import math
import random
import re
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as BrokerError

from credentials.keys.models import ApiKey, KeyDeployment, RuntimeTarget
from credentials.lib import outbound
from portal import audit, encryption, jobs

logger = logging.getLogger(__name__)

ACCESS_KEYS_PATH = "/access-keys"
DEPLOY_TASK = "credentials.keys.tasks.deploy_access_key"
SIGNATURE_VERSION = "v1"
BACKOFF_MAX = timedelta(hours=1)
JITTER = 0.2  # each delay is drawn from +-20% around the exponential one, so retries spread out
SWEEP_BATCH = 500
MAX_ANSWER_BYTES = 4096  # a target's answer is a short JSON object; read no more
MAX_ERROR_CHARS = 300
# A documented error code in a refusal ({"error": "bad_signature"}): short, and safe to store.
ERROR_CODE = re.compile(r"[a-z0-9_.-]{1,40}")
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class _Outcome:
    """What one attempt came to. `message` is stored and shown to admins: never a secret."""

    kind: str  # "deployed", "retry" or "failed"
    message: str
    retry_after: timedelta | None = None


# --- Sending one deployment -------------------------------------------------------------------------
def deliver(deployment_id: int) -> None:
    """Send one pending, due deployment to its runtime target and record the outcome (audited when
    it is final); reschedules itself with backoff when the target is unavailable. Does nothing for
    a deployment that is not pending (deployed, failed, superseded) or not due yet."""
    now = timezone.now()
    claimed = _claim(deployment_id, now)
    if claimed is None:
        logger.info("Deployment %s: not pending or not due, nothing to send", deployment_id)
        return
    outcome = _send(claimed)
    if outcome.kind == "deployed":
        _record_deployed(claimed, outcome)
    elif outcome.kind == "failed":
        _record_failed(claimed, outcome)
    else:
        _record_retry(claimed, outcome)


def _claim_lease() -> timedelta:
    # Longer than the task may run (the hard time limit kills it), so while the lease lasts the
    # worker that claimed the row is the only one sending it.
    return timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", None) or 300) + timedelta(minutes=1)


def _due(now: datetime) -> Q:
    return Q(state=KeyDeployment.State.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def _claim(deployment_id: int, now: datetime) -> KeyDeployment | None:
    # Compare-and-set: of two workers holding the same id, one updates the row, the other gets 0.
    claimed = KeyDeployment.objects.filter(_due(now), pk=deployment_id).update(
        attempts=F("attempts") + 1, next_attempt_at=now + _claim_lease()
    )
    if not claimed:
        return None
    # The signing secret is decrypted when it is used (in _send), where a key that no longer opens
    # it becomes a recorded failure rather than an exception after the claim.
    return (
        KeyDeployment.objects.select_related("target", "api_key").defer("target__signing_secret").get(pk=deployment_id)
    )


def _still_claimed(deployment: KeyDeployment) -> QuerySet[KeyDeployment]:
    """The row as this attempt claimed it: not superseded since, and not claimed again."""
    return KeyDeployment.objects.filter(
        pk=deployment.pk, state=KeyDeployment.State.PENDING, attempts=deployment.attempts
    )


@sensitive_variables("secret")
def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Portico-Signature value: v1=hex HMAC-SHA256 under the signing secret of "<timestamp>.<body>"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def _body(deployment: KeyDeployment) -> bytes:
    # The stored payload plus a sequence number: deployments of one key are created under the
    # key's row lock, so a larger id is a newer state. The target applies a deployment only if
    # its sequence is newer than the one it holds (two sends of one key can cross in flight).
    document = {**deployment.payload, "sequence": deployment.pk}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@sensitive_variables("secret", "headers")
def _send(deployment: KeyDeployment) -> _Outcome:
    target = deployment.target
    try:
        url = _target_url(target.base_url, ACCESS_KEYS_PATH)
    except ValueError as problem:
        return _Outcome("retry", str(problem))
    try:
        secret = target.signing_secret
    except encryption.DecryptionError:
        logger.error("Deployment %s: the signing secret of target %s cannot be decrypted", deployment.pk, target.pk)
        return _Outcome("retry", "Portico could not decrypt this target's signing secret (encryption keys changed?).")
    body = _body(deployment)
    timestamp = str(int(timezone.now().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "Portico deployment",
        "X-Portico-Deployment": str(deployment.deployment_id),
        "X-Portico-Timestamp": timestamp,
        "X-Portico-Signature": signature(secret, timestamp, body),
    }
    try:
        answer = _request("POST", url, headers=headers, content=body)
    except _Unreachable as unreachable:
        logger.warning("Deployment %s to %s: %s", deployment.pk, url.host, unreachable.reason)
        return _Outcome("retry", unreachable.message)
    status = answer.status_code
    logger.info("Deployment %s to %s: HTTP %s", deployment.pk, url.host, status)
    if 200 <= status < 300:
        return _Outcome("deployed", f"Accepted a deployment (HTTP {status}).")
    if 400 <= status < 500 and status not in RETRYABLE_STATUSES:
        code = _error_code(answer.body)
        return _Outcome("failed", f"The target refused the deployment (HTTP {status}{': ' + code if code else ''}).")
    if 300 <= status < 400:
        message = f"The target answered with a redirect (HTTP {status}), which Portico does not follow: check its URL."
    else:
        message = f"The target is unavailable (HTTP {status})."
    return _Outcome("retry", message, retry_after=_retry_after(answer.headers.get("retry-after", "")))


def _record_deployed(deployment: KeyDeployment, outcome: _Outcome) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = _still_claimed(deployment).update(
            state=KeyDeployment.State.DEPLOYED, deployed_at=now, next_attempt_at=None, last_error=""
        )
        if updated:
            key = _set_key_state(deployment, ApiKey.Deployment.DEPLOYED)
            audit.record(
                action="api_key.deploy",
                target=key,
                organization=key.consumer.organization,
                summary=(
                    f"Deployed {_key_label(deployment)} to runtime target {deployment.target.name} "
                    f"({deployment.reason}; attempt {deployment.attempts})"
                ),
            )
    _mark_target(deployment.target, RuntimeTarget.Health.UP, outcome.message, now)


def _record_failed(deployment: KeyDeployment, outcome: _Outcome) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = _still_claimed(deployment).update(
            state=KeyDeployment.State.FAILED, next_attempt_at=None, last_error=outcome.message[:MAX_ERROR_CHARS]
        )
        if updated:
            key = _set_key_state(deployment, ApiKey.Deployment.FAILED)
            audit.record(
                action="api_key.deploy_failed",
                target=key,
                organization=key.consumer.organization,
                summary=(
                    f"Runtime target {deployment.target.name} refused {_key_label(deployment)} "
                    f"({deployment.reason}): {outcome.message}"
                ),
            )
    # The target answered, so it is up; the message tells admins it refuses what Portico sends.
    _mark_target(deployment.target, RuntimeTarget.Health.UP, outcome.message, now)


def _record_retry(deployment: KeyDeployment, outcome: _Outcome) -> None:
    now = timezone.now()
    delay = backoff(deployment.attempts)
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, BACKOFF_MAX))
    updated = _still_claimed(deployment).update(
        next_attempt_at=now + delay, last_error=outcome.message[:MAX_ERROR_CHARS]
    )
    _mark_target(deployment.target, RuntimeTarget.Health.DOWN, outcome.message, now)
    if not updated:
        return
    # The row is already due again at next_attempt_at: this retry only saves waiting for the
    # sweep. One second past the due time, so the task does not arrive a moment too early.
    try:
        jobs.enqueue(DEPLOY_TASK, deployment.pk, countdown=math.ceil(delay.total_seconds()) + 1)
    except BrokerError:
        logger.warning("Deployment %s: the broker refused the retry; the sweep will send it", deployment.pk)


def backoff(attempts: int) -> timedelta:
    """The wait after the attempts-th failed attempt: 30 s, 1 min, 2 min, ... up to 1 h, +-20%
    (the first wait is PORTICO_DEPLOY_RETRY_BASE_SECONDS; drills shorten it)."""
    base = timedelta(seconds=settings.PORTICO_DEPLOY_RETRY_BASE_SECONDS)
    exponential = base * 2 ** min(max(attempts - 1, 0), 16)
    jitter = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - spreading retries, not a secret
    return min(min(exponential, BACKOFF_MAX) * jitter, BACKOFF_MAX)


def _set_key_state(deployment: KeyDeployment, state: str) -> ApiKey:
    """Show the outcome on the key (My API Keys), if this is still its latest deployment to its
    API's current target. Runs in the outcome's transaction."""
    # The key's lock orders this after any change that created a newer deployment
    # (api_key_deploy runs under it), so "latest" cannot change between the check and the write.
    key = ApiKey.objects.select_for_update(of=("self",)).select_related("api", "consumer").get(pk=deployment.api_key_id)
    latest = KeyDeployment.objects.filter(api_key=key).order_by("-pk").values_list("pk", flat=True).first()
    if latest == deployment.pk and key.api.runtime_target_id == deployment.target_id:
        key.deployment_state = state
        key.save(update_fields=["deployment_state", "updated_at"])
    return key


def _key_label(deployment: KeyDeployment) -> str:
    prefix = deployment.payload.get("key_id") if isinstance(deployment.payload, dict) else None
    return f"key {prefix or deployment.api_key.prefix}"


def _error_code(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and ERROR_CODE.fullmatch(code) else ""


def _retry_after(value: str) -> timedelta | None:
    value = value.strip()
    # ASCII digits only: str.isdigit() also says yes to "²", which int() refuses.
    return timedelta(seconds=int(value)) if value.isascii() and value.isdigit() and len(value) <= 6 else None


# --- The sweep ------------------------------------------------------------------------------------
def due_deployments(now: datetime | None = None) -> QuerySet[KeyDeployment]:
    """Pending deployments whose next attempt is due, oldest first (the index key_deployment_due)."""
    return (
        KeyDeployment.objects.filter(_due(now or timezone.now()))
        .select_related("api_key", "target")
        .defer("target__signing_secret")
        .order_by("pk")
    )


def retry_due_deployments() -> int:
    """Enqueue deploy_access_key for every pending deployment that is due; returns how many.

    Each worker claims its row before sending, so a row enqueued twice (by this sweep and by a
    countdown retry) is sent once.
    """
    now = timezone.now()
    enqueued = 0
    last_pk = 0
    while True:
        # Batches by primary key: the loop ends even while workers change the rows it walks.
        batch = list(due_deployments(now).filter(pk__gt=last_pk).values_list("pk", flat=True)[:SWEEP_BATCH])
        if not batch:
            break
        for deployment_id in batch:
            jobs.enqueue(DEPLOY_TASK, deployment_id)
        enqueued += len(batch)
        last_pk = batch[-1]
    if enqueued:
        logger.info("Enqueued %s due key deployment(s)", enqueued)
    return enqueued


# --- Target health ----------------------------------------------------------------------------------
def check_target_health(target_id: int) -> RuntimeTarget:
    """GET the target's health URL: 2xx marks it up, anything else down, with a message and the
    time. A target with no health URL is left as it is. Returns the target."""
    target = RuntimeTarget.objects.defer("signing_secret").get(pk=target_id)
    if not target.health_url:
        return target
    now = timezone.now()
    try:
        url = _target_url(target.health_url, "")
        answer = _request("GET", url, headers={"Accept": "application/json", "User-Agent": "Portico health check"})
    except ValueError as problem:
        health, message = RuntimeTarget.Health.DOWN, str(problem)
    except _Unreachable as unreachable:
        health, message = RuntimeTarget.Health.DOWN, unreachable.message
    else:
        if 200 <= answer.status_code < 300:
            health, message = RuntimeTarget.Health.UP, f"The health URL answered HTTP {answer.status_code}."
        else:
            health, message = RuntimeTarget.Health.DOWN, f"The health URL answered HTTP {answer.status_code}."
    _mark_target(target, health, message, now)
    target.refresh_from_db()
    return target


def schedule_health_checks() -> int:
    """Enqueue a health check for every runtime target with a health URL; returns how many."""
    ids = list(RuntimeTarget.objects.exclude(health_url="").order_by("pk").values_list("pk", flat=True))
    for target_id in ids:
        jobs.enqueue("credentials.keys.tasks.check_runtime_target_health", target_id)
    return len(ids)


def _mark_target(target: RuntimeTarget, health: str, message: str, now: datetime) -> None:
    fields = {"health": health, "health_checked_at": now, "health_message": message[:MAX_ERROR_CHARS]}
    if health == RuntimeTarget.Health.UP:
        # Compare-and-set: only the attempt or check that sees the target come back does this.
        came_back = RuntimeTarget.objects.filter(pk=target.pk, health=RuntimeTarget.Health.DOWN).update(**fields)
        if came_back:
            # Deployments waiting out a backoff of up to an hour need not wait any more: the
            # sweep sends them within a minute. A row claimed and in flight right now may then be
            # claimed and sent a second time: the target applies one deployment id once, and
            # only the later claim records its outcome (the compare-and-set on attempts).
            resumed = KeyDeployment.objects.filter(
                target_id=target.pk, state=KeyDeployment.State.PENDING, next_attempt_at__gt=now
            ).update(next_attempt_at=now)
            logger.info("Runtime target %s is up again; %s deployment(s) due now", target.pk, resumed)
            return
    RuntimeTarget.objects.filter(pk=target.pk).update(**fields)


# --- HTTP -----------------------------------------------------------------------------------------
class _Unreachable(Exception):
    """No answer from the target: `message` is for admins, `reason` a short word for the log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def _target_url(base: str, path: str) -> httpx.URL:
    """<base><path> as an http(s) URL Portico may call; ValueError says why not."""
    try:
        url = httpx.URL(base.rstrip("/") + path if path else base)
    except httpx.InvalidURL:
        raise ValueError("The target's URL is not a valid URL.") from None
    if url.host and outbound.scheme_allowed(url.scheme, url.host):
        return url
    raise ValueError("The target's URL must start with https://.")


def _request(method: str, url: httpx.URL, *, headers: dict[str, str], content: bytes | None = None) -> outbound.Answer:
    timeout = settings.PORTICO_OUTBOUND_TIMEOUT
    context = ssl.create_default_context(cafile=settings.PORTICO_OUTBOUND_CA_BUNDLE or None)
    with outbound.client(context) as client:
        try:
            return outbound.send_to_checked_host(
                client, method, url, headers=headers, content=content, max_body_bytes=MAX_ANSWER_BYTES
            )
        except outbound.HostNotFound:
            raise _Unreachable(f"The host {url.host} could not be found (DNS lookup failed).", "dns") from None
        except outbound.AddressRefused as refused:
            raise _Unreachable(
                f"{url.host} resolves to a private or local address ({refused.address}); Portico does not call those.",
                "private-address",
            ) from None
        except httpx.TimeoutException:
            raise _Unreachable(f"{url.host} did not answer within {timeout:g} seconds.", "timeout") from None
        except httpx.ConnectError as exc:
            raise _Unreachable(f"Portico could not connect to {url.host}: {_short(exc)}.", "connect") from None
        except httpx.HTTPError as exc:
            raise _Unreachable(
                f"{url.host} closed the connection or sent an unreadable answer ({type(exc).__name__}).", "protocol"
            ) from None


def _short(exc: Exception) -> str:
    # httpx's connection errors carry the OS or TLS reason ("[Errno 111] Connection refused"),
    # never the request's headers or body.
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160].rstrip(".")
