"""Messages queued by the previous release carry its task names: each is still answered, and does
what the old task did, for one release."""

import pytest
from django.core import mail

from approvals.models import ApprovalRequest
from approvals.services import connection_request_decide
from credentials.connections.models import ConnectionRequest
from credentials.keys import services as key_services
from credentials.keys.models import KeyDeployment
from portal.celery import app
from portal.models import OutboundEmail
from tests.factories import ApiFactory, RuntimeTargetFactory

PREVIOUS_NAMES = [
    "credentials.tasks.deploy_access_key",
    "credentials.tasks.send_api_key_email",
    "credentials.tasks.send_connection_request_decision_email",
    "approvals.tasks.send_approval_requested_email",
]


@pytest.fixture(autouse=True)
def discovered_tasks():
    app.loader.import_default_modules()  # what a worker does when it starts


def test_every_task_name_of_the_previous_release_is_registered():
    assert set(PREVIOUS_NAMES) <= set(app.tasks)


def test_a_queued_key_email_of_the_previous_release_is_written_and_sent(consumer, django_capture_on_commit_callbacks):
    key, _secret = key_services.api_key_issue(api=ApiFactory(name="Weather", key_lifetime_days=30), consumer=consumer)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        app.tasks["credentials.tasks.send_api_key_email"].apply(args=(key.pk, "key-renewed", ""))

    assert OutboundEmail.objects.filter(template="key-renewed", to=[consumer.email]).count() == 1
    assert [message.to for message in mail.outbox] == [[consumer.email]]


def test_a_queued_decision_email_of_the_previous_release_is_written(submitted, hub_admin):
    connection_request_decide(connection_request_id=submitted.pk, approver=hub_admin, verdict="approve")
    OutboundEmail.objects.all().delete()  # the one the decision wrote itself

    app.tasks["credentials.tasks.send_connection_request_decision_email"].apply(args=(submitted.pk,))

    email = OutboundEmail.objects.get(template="connection-request-decided")
    assert email.to == [submitted.submitted_by.email]
    assert "approved" in email.subject.lower()
    assert ConnectionRequest.objects.get(pk=submitted.pk).status == ConnectionRequest.Status.APPROVED


def test_a_queued_approvers_email_of_the_previous_release_is_written_only_while_pending(consumer, approver):
    api = ApiFactory(name="Payments", key_lifetime_days=30, renewal_requires_approval=True)
    api.approvers.set([approver])
    _key, _secret, approval = key_services.api_key_request(api=api, consumer=consumer)
    OutboundEmail.objects.all().delete()

    app.tasks["approvals.tasks.send_approval_requested_email"].apply(args=(approval.pk,))
    assert list(OutboundEmail.objects.values_list("to", flat=True)) == [[approver.email]]

    ApprovalRequest.objects.filter(pk=approval.pk).update(status=ApprovalRequest.Status.CANCELLED)
    app.tasks["approvals.tasks.send_approval_requested_email"].apply(args=(approval.pk,))
    assert OutboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_a_queued_deployment_of_the_previous_release_is_delivered(consumer, httpserver):
    httpserver.expect_request("/access-keys", method="POST").respond_with_json({"status": "ok"})
    target = RuntimeTargetFactory(base_url=httpserver.url_for("/").rstrip("/"))
    api = ApiFactory(name="Weather", key_lifetime_days=30, runtime_target=target)
    key, _secret = key_services.api_key_issue(api=api, consumer=consumer)
    deployment = KeyDeployment.objects.get(api_key=key)

    app.tasks["credentials.tasks.deploy_access_key"].apply(args=(deployment.pk,))

    deployment.refresh_from_db()
    assert deployment.state == KeyDeployment.State.DEPLOYED
