"""Two approvers act on one key renewal at the same moment, on PostgreSQL: applied exactly once."""

import threading

import pytest
from django.db import connection

from approvals import services
from approvals.models import ApprovalRequest, Decision
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import ApiFactory, UserFactory


def run_at_once(*actions):
    barrier = threading.Barrier(len(actions), timeout=10)
    outcomes = []

    def run(action):
        try:
            barrier.wait()
            action()
            outcomes.append("applied")
        except services.AlreadyDecided as exc:
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.fixture
def renewal(organization, consumer):
    first = UserFactory(organization=organization, roles=(Role.APPROVER,))
    second = UserFactory(organization=organization, roles=(Role.APPROVER,))
    api = ApiFactory(key_lifetime_days=30, renewal_requires_approval=True, approver_users=[first, second])
    key, _secret, approval = key_services.api_key_request(api=api, consumer=consumer)
    services.approval_decide(approval_request_id=approval.pk, approver=first, verdict="approve")
    _key, renewal = key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    return api, key, renewal, first, second


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_in_any_mode_renew_the_key_once(renewal):
    _api, key, approval, first, second = renewal
    outcomes = run_at_once(
        lambda: services.approval_decide(approval_request_id=approval.pk, approver=first, verdict="approve"),
        lambda: services.approval_decide(approval_request_id=approval.pk, approver=second, verdict="approve"),
    )
    assert sorted(o.split(":")[0] for o in outcomes) == ["applied", "refused"]
    assert any("already approved" in o for o in outcomes)
    assert AuditEvent.objects.filter(action="api_key.renew", target_id=str(key.pk)).count() == 1
    assert Decision.objects.filter(approval_request=approval).count() == 1
    key.refresh_from_db()
    assert key.renewal_pending_since is None and key.status == ApiKey.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_in_all_mode_renew_when_both_approved(renewal, consumer):
    api, key, approval, first, second = renewal
    key_services.api_key_renewal_withdraw(api_key_id=key.pk, consumer=consumer)
    api.approval_mode = "all"
    api.save()
    _key, approval = key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    outcomes = run_at_once(
        lambda: services.approval_decide(approval_request_id=approval.pk, approver=first, verdict="approve"),
        lambda: services.approval_decide(approval_request_id=approval.pk, approver=second, verdict="approve"),
    )
    assert outcomes == ["applied", "applied"]
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.APPROVED
    assert AuditEvent.objects.filter(action="api_key.renew", target_id=str(key.pk)).count() == 1
