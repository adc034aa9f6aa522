from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from approvals.models import ApprovalRequest
from credentials.connections.models import ConnectionRequest
from credentials.keys.models import Api, ApiKey
from portal.models import Organization, User


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_demo_data_has_one_user_per_role_and_the_scenarios_data(db, settings):
    settings.DEBUG = True
    output = seed()
    assert Organization.objects.filter(slug="acme").exists()
    for username in ("consumer", "org-admin", "tenant-admin", "hub-admin", "approver"):
        user = User.objects.get(username=username)
        assert user.check_password("portico-demo")
        assert user.organization.slug == "acme"
        assert username in output
    statuses = set(ConnectionRequest.objects.values_list("status", flat=True))
    assert statuses == {"submitted", "approved"}
    consumer = User.objects.get(username="consumer")
    keys = {key.api.slug: key for key in ApiKey.objects.filter(consumer=consumer).select_related("api")}
    assert set(keys) == {"payments", "weather", "catalog"}
    assert keys["catalog"].expires_at is None
    assert 4 <= keys["payments"].days_left() <= 5
    assert 19 <= keys["weather"].days_left() <= 20
    assert Api.objects.get(slug="payments").renewal_requires_approval
    assert "prt_key_" in output


def test_loading_the_demo_data_twice_changes_nothing(db, settings):
    settings.DEBUG = True
    seed()
    counts = (
        User.objects.count(),
        ConnectionRequest.objects.count(),
        ApiKey.objects.count(),
        ApprovalRequest.objects.count(),
    )
    second = seed()
    assert (
        User.objects.count(),
        ConnectionRequest.objects.count(),
        ApiKey.objects.count(),
        ApprovalRequest.objects.count(),
    ) == counts
    assert "prt_key_" not in second


def test_demo_data_is_refused_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        seed()
    assert not User.objects.exists()
