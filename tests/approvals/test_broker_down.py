"""The broker (Redis) is down while people act: every change still commits and answers normally,
and what it owes (emails, deployments) is already in the database, where the sweeps find it once
the broker is back. Here the broker's refusal is what kombu raises when Redis does not answer."""

from celery.app.task import Task
from django.core import mail
from kombu.exceptions import OperationalError

from approvals.models import ApprovalRequest
from credentials.keys import services as key_services
from credentials.keys.models import KeyDeployment
from portal import tasks as portal_tasks
from portal.models import OutboundEmail
from tests.factories import ApiFactory, RuntimeTargetFactory


def refuse(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_approving_a_renewal_with_the_broker_down_commits_and_owes_the_email(
    client, consumer, approver, django_capture_on_commit_callbacks, monkeypatch
):
    api = ApiFactory(key_lifetime_days=30, runtime_target=RuntimeTargetFactory())
    key, _secret = key_services.api_key_issue(api=api, consumer=consumer)
    api.renewal_requires_approval = True
    api.save()
    api.approvers.set([approver])
    _key, approval = key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    key.refresh_from_db()
    client.force_login(approver)
    OutboundEmail.objects.all().delete()
    monkeypatch.setattr(Task, "apply_async", refuse)  # the broker goes down

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/approvals/{approval.pk}/decide/",
            {"reviewed": key.review_version, "verdict": "approve"},
            headers={"HX-Request": "true"},
        )

    assert response.status_code == 200
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.APPROVED
    renewed = OutboundEmail.objects.get(template="key-renewed")
    assert renewed.state == OutboundEmail.State.PENDING and renewed.to == [consumer.email]
    assert KeyDeployment.objects.filter(api_key=key, reason="renewed", state=KeyDeployment.State.PENDING).exists()
    assert mail.outbox == []

    # The broker is back: the outbox sweep of the beat sends what is owed.
    monkeypatch.undo()
    mail.outbox.clear()
    portal_tasks.deliver_due_emails.apply()
    renewed.refresh_from_db()
    assert renewed.state == OutboundEmail.State.SENT
    assert any(message.to == [consumer.email] and "renewed" in message.subject.lower() for message in mail.outbox)
