"""Two hub admins click at the same moment on PostgreSQL: one decision wins, the other is told."""

import threading

import pytest
from django.db import connection

from approvals.models import ApprovalRequest, Decision
from approvals.services import AlreadyDecided, connection_request_decide
from credentials.connections.models import ConnectionRequest
from credentials.connections.services import connection_request_submit
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_two_hub_admins_deciding_at_once_apply_exactly_one_decision(
    tenant, tenant_admin, organization, good_credentials
):
    request = connection_request_submit(
        tenant=tenant,
        credentials=good_credentials,
        generated_at=tenant.created_at,
        submitted_by=tenant_admin,
        skip_test=True,
    )
    first = UserFactory(organization=organization, roles=(Role.HUB_ADMIN,))
    second = UserFactory(organization=organization, roles=(Role.HUB_ADMIN,))
    barrier = threading.Barrier(2, timeout=10)
    outcomes: dict[str, str] = {}

    def decide(user, verdict: str, comment: str) -> None:
        try:
            barrier.wait()
            connection_request_decide(connection_request_id=request.pk, approver=user, verdict=verdict, comment=comment)
            outcomes[user.username] = "won"
        except AlreadyDecided as exc:
            outcomes[user.username] = f"lost: {exc}"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(first, "approve", "")),
        threading.Thread(target=decide, args=(second, "reject", "Duplicate tenant")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["lost", "won"]
    loser_message = next(o for o in outcomes.values() if o.startswith("lost"))
    assert "This request was already" in loser_message
    winner = first if outcomes[first.username] == "won" else second
    request.refresh_from_db()
    expected = ConnectionRequest.Status.APPROVED if winner == first else ConnectionRequest.Status.REJECTED
    assert request.status == expected
    assert request.decided_by == winner
    assert Decision.objects.count() == 1
    assert ApprovalRequest.objects.get().status != ApprovalRequest.Status.PENDING
    assert (
        AuditEvent.objects.filter(action__in=["connection_request.approve", "connection_request.reject"]).count() == 1
    )
