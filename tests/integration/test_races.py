"""Two people act at once, through the web, on PostgreSQL: as many trials of each race as fit in
PORTICO_RACE_SECONDS (60 by default, as `make test` runs them). Each trial builds its own objects,
lets two browsers post at the same moment, and checks what a person would: nothing applied twice,
no deadlock, no server error. The figures of each race go to test-results/races.json and are
reported in docs/reliability.md."""

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from approvals import services as approval_services
from approvals.models import ApprovalRequest, Decision
from credentials.expiry import reminders
from credentials.expiry.models import ExpiryReminder, email_dedupe_key
from credentials.integration.models import ApiCredential
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from portal.models import AuditEvent, OutboundEmail, User
from portal.roles import Role
from tests.factories import ApiFactory, OrganizationFactory, UserFactory, make_api_credential

SECONDS = float(os.environ.get("PORTICO_RACE_SECONDS", "60"))
RESULTS = Path(settings.BASE_DIR) / "test-results" / "races.json"
HTMX = {"HX-Request": "true"}


@dataclass
class Tally:
    trials: int = 0
    double_applications: int = 0
    wrong_outcomes: int = 0  # nothing applied where one thing should have been, or a state that makes no sense
    deadlocks: int = 0
    server_errors: int = 0
    outcomes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def report(self, name: str) -> dict[str, object]:
        figures = {
            "race": name,
            "seconds": SECONDS,
            "trials": self.trials,
            "double_applications": self.double_applications,
            "wrong_outcomes": self.wrong_outcomes,
            "deadlocks": self.deadlocks,
            "server_errors": self.server_errors,
            "outcomes": dict(self.outcomes),
        }
        RESULTS.parent.mkdir(exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        previous[name] = figures
        RESULTS.write_text(json.dumps(previous, indent=2, sort_keys=True))
        print(f"race {name}: {json.dumps(figures)}")  # noqa: T201 - the figures, also in the pytest log
        return figures


Post = tuple[Client, str, dict[str, str]]


def _post_at_once(posts: list[Post], tally: Tally) -> list[int]:
    """Send the posts from one thread each, released together; the status of each answer."""
    barrier = threading.Barrier(len(posts), timeout=10)
    statuses: list[int] = [0] * len(posts)

    def send(index: int, client: Client, path: str, data: dict[str, str]) -> None:
        try:
            barrier.wait()
            response = client.post(path, data, headers=HTMX)
            statuses[index] = response.status_code
            if response.status_code >= 500:
                error = getattr(response, "exc_info", None)
                text = repr(error[1]) if error else response.content[:200].decode(errors="replace")
                if "deadlock" in text.lower():
                    tally.deadlocks += 1
                tally.server_errors += 1
                tally.problems.append(f"{path}: {text[:300]}")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, *post)) for i, post in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def _browser(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def run_race(name: str, trial: Callable[[Tally], None]) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline or tally.trials == 0:
        trial(tally)
        tally.trials += 1
    tally.report(name)
    return tally


def _assert_clean(tally: Tally) -> None:
    assert tally.trials > 0
    figures = (tally.double_applications, tally.wrong_outcomes, tally.deadlocks, tally.server_errors)
    assert figures == (0, 0, 0, 0), (tally.outcomes, tally.problems[:5])


# --- The cast of one trial ------------------------------------------------------------------------
@dataclass
class Renewal:
    consumer: object
    first: object
    second: object
    key: ApiKey
    approval: ApprovalRequest

    def renewals_applied(self) -> int:
        return AuditEvent.objects.filter(action="api_key.renew", target_id=str(self.key.pk)).count()


def a_waiting_renewal() -> Renewal:
    """A consumer's active key on an API whose renewals need one approver, with a renewal waiting."""
    organization = OrganizationFactory()
    consumer = UserFactory(organization=organization, roles=(Role.CONSUMER,))
    first = UserFactory(organization=organization, roles=(Role.APPROVER,))
    second = UserFactory(organization=organization, roles=(Role.APPROVER,))
    api = ApiFactory(key_lifetime_days=30, renewal_requires_approval=True, approver_users=[first, second])
    key, _secret, issue = key_services.api_key_request(api=api, consumer=consumer)
    approval_services.approval_decide(approval_request_id=issue.pk, approver=first, verdict="approve")
    key, approval = key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    assert approval is not None
    return Renewal(consumer, first, second, key, ApprovalRequest.objects.get(pk=approval.pk))


def decide(renewal: Renewal, who, verdict: str) -> Post:
    data = {"verdict": verdict, "reviewed": renewal.key.review_version}
    if verdict == "reject":
        data["reason"] = "Not this quarter."
    return _browser(who), f"/approvals/{renewal.approval.pk}/decide/", data


# --- The races ------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_approvers_approving_at_once_renew_once():
    def trial(tally: Tally) -> None:
        renewal = a_waiting_renewal()
        _post_at_once([decide(renewal, renewal.first, "approve"), decide(renewal, renewal.second, "approve")], tally)
        applied = renewal.renewals_applied()
        decisions = Decision.objects.filter(approval_request=renewal.approval).count()
        tally.outcomes[f"renewed {applied}x, {decisions} decision(s)"] += 1
        tally.double_applications += applied > 1 or decisions > 1
        tally.wrong_outcomes += applied == 0 or decisions == 0

    _assert_clean(run_race("approve/approve", trial))


@pytest.mark.django_db(transaction=True)
def test_approving_and_rejecting_at_once_apply_one_verdict():
    def trial(tally: Tally) -> None:
        renewal = a_waiting_renewal()
        _post_at_once([decide(renewal, renewal.first, "approve"), decide(renewal, renewal.second, "reject")], tally)
        renewal.approval.refresh_from_db()
        applied = renewal.renewals_applied()
        tally.outcomes[f"{renewal.approval.status}, renewed {applied}x"] += 1
        decided = renewal.approval.status in (ApprovalRequest.Status.APPROVED, ApprovalRequest.Status.REJECTED)
        expected = 1 if renewal.approval.status == ApprovalRequest.Status.APPROVED else 0
        tally.double_applications += (
            applied > 1 or Decision.objects.filter(approval_request=renewal.approval).count() > 1
        )
        tally.wrong_outcomes += not decided or applied != expected

    _assert_clean(run_race("approve/reject", trial))


@pytest.mark.django_db(transaction=True)
def test_approving_while_the_consumer_revokes_leaves_a_revoked_key():
    def trial(tally: Tally) -> None:
        renewal = a_waiting_renewal()
        revoke = (_browser(renewal.consumer), f"/preferences/api-keys/{renewal.key.pk}/revoke/", {})
        _post_at_once([decide(renewal, renewal.first, "approve"), revoke], tally)
        renewal.key.refresh_from_db()
        renewal.approval.refresh_from_db()
        applied = renewal.renewals_applied()
        tally.outcomes[f"key {renewal.key.status}, approval {renewal.approval.status}, renewed {applied}x"] += 1
        tally.double_applications += applied > 1
        cancelled = renewal.approval.status == ApprovalRequest.Status.CANCELLED
        approved = renewal.approval.status == ApprovalRequest.Status.APPROVED
        tally.wrong_outcomes += (
            renewal.key.status != ApiKey.Status.REVOKED or (cancelled and applied > 0) or (approved and applied != 1)
        )

    _assert_clean(run_race("approve/revoke", trial))


@pytest.mark.django_db(transaction=True)
def test_approving_while_the_consumer_withdraws_applies_one_of_them():
    def trial(tally: Tally) -> None:
        renewal = a_waiting_renewal()
        withdraw = (_browser(renewal.consumer), f"/preferences/api-keys/{renewal.key.pk}/withdraw-renewal/", {})
        _post_at_once([decide(renewal, renewal.first, "approve"), withdraw], tally)
        renewal.key.refresh_from_db()
        renewal.approval.refresh_from_db()
        applied = renewal.renewals_applied()
        tally.outcomes[f"approval {renewal.approval.status}, renewed {applied}x"] += 1
        expected = 1 if renewal.approval.status == ApprovalRequest.Status.APPROVED else 0
        tally.double_applications += applied > 1
        tally.wrong_outcomes += (
            renewal.approval.status == ApprovalRequest.Status.PENDING
            or applied != expected
            or renewal.key.renewal_pending_since is not None
        )

    _assert_clean(run_race("approve/withdraw", trial))


@pytest.mark.django_db(transaction=True)
def test_renewing_twice_at_once_opens_one_approval():
    def trial(tally: Tally) -> None:
        renewal = a_waiting_renewal()
        key_services.api_key_renewal_withdraw(api_key_id=renewal.key.pk, consumer=renewal.consumer)
        browser = _browser(renewal.consumer)
        path = f"/preferences/api-keys/{renewal.key.pk}/renew/"
        _post_at_once([(browser, path, {}), (_browser(renewal.consumer), path, {})], tally)
        waiting = ApprovalRequest.objects.filter(
            api_key=renewal.key, kind=ApprovalRequest.Kind.KEY_RENEWAL, status=ApprovalRequest.Status.PENDING
        ).count()
        tally.outcomes[f"{waiting} waiting approval(s)"] += 1
        tally.double_applications += waiting > 1
        tally.wrong_outcomes += waiting == 0

    _assert_clean(run_race("renew/renew", trial))


@pytest.mark.django_db(transaction=True)
def test_two_admins_adding_a_fourth_credential_at_once_leave_three():
    def trial(tally: Tally) -> None:
        organization = OrganizationFactory()
        admins = [UserFactory(organization=organization, roles=(Role.ORG_ADMIN,)) for _ in range(2)]
        make_api_credential(organization, name="one")
        make_api_credential(organization, name="two")
        role = organization.api_roles.get(name="Admin")
        data = {"name": "the third", "role": role.public_id, "client_secret": ""}
        path = "/account/integration/connection-api-credentials/add/done/"
        _post_at_once([(_browser(admin), path, data) for admin in admins], tally)
        count = ApiCredential.objects.filter(organization=organization).count()
        tally.outcomes[f"{count} credentials"] += 1
        tally.double_applications += count > 3
        tally.wrong_outcomes += count < 3

    _assert_clean(run_race("fourth credential twice", trial))


@pytest.mark.django_db(transaction=True)
def test_two_reminder_sweeps_at_once_remind_each_key_once(monkeypatch):
    """Two workers sweep at the same moment over the same due keys, in overlapping batches: every
    key gets one reminder row and one email between them, and neither sweep deadlocks or fails.
    (The emails stay in the outbox: delivery is another race's business, and slow to repeat.)"""
    monkeypatch.setattr("portal.jobs.enqueue_on_commit", lambda name, *ids: None)
    due_keys = reminders.BATCH + reminders.BATCH // 2  # so the two sweeps' batches overlap

    def trial(tally: Tally) -> None:
        organization = OrganizationFactory()
        # One key per consumer and API: as many consumers as keys.
        consumers = User.objects.bulk_create(
            User(
                username=f"race{tally.trials}-{n}",
                email=f"race{tally.trials}-{n}@example.com",
                organization=organization,
            )
            for n in range(due_keys)
        )
        api = ApiFactory(key_lifetime_days=365)
        now = timezone.now()
        keys = ApiKey.objects.bulk_create(
            ApiKey(
                consumer=consumer,
                api=api,
                prefix=f"prt_race_{tally.trials}_{n}",
                status=ApiKey.Status.ACTIVE,
                expires_at=now + timedelta(days=20, minutes=n),
                renewed_at=now - timedelta(days=345),
            )
            for n, consumer in enumerate(consumers)
        )
        barrier = threading.Barrier(2, timeout=10)
        sent = [0, 0]

        def sweep(index: int) -> None:
            try:
                barrier.wait()
                sent[index] = reminders.send_due_reminders(now=now)
            except Exception as error:  # noqa: BLE001 - a failed sweep is what the race looks for
                tally.deadlocks += "deadlock" in str(error).lower()
                tally.server_errors += 1
                tally.problems.append(repr(error)[:300])
            finally:
                connection.close()

        threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        ids = [key.pk for key in keys]
        rows = Counter(ExpiryReminder.objects.filter(subject_id__in=ids).values_list("subject_id", flat=True))
        reminder_ids = list(ExpiryReminder.objects.filter(subject_id__in=ids).values_list("pk", flat=True))
        emails = OutboundEmail.objects.filter(dedupe_key__in=[email_dedupe_key(r) for r in reminder_ids]).count()
        tally.outcomes[f"split {min(sent)}/{max(sent)}" if min(sent) else "one sweep sent all"] += 1
        tally.double_applications += sum(sent) > due_keys or any(count > 1 for count in rows.values())
        tally.wrong_outcomes += sum(sent) < due_keys or len(rows) != due_keys or emails != due_keys

    _assert_clean(run_race("reminder sweep twice", trial))
