import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from approvals.models import ApprovalRequest
from credentials.connections.models import ConnectionRequest
from credentials.keys.models import Api, ApiKey, KeyDeployment, RuntimeTarget
from credentials.lib import crypto
from portal.models import AuditEvent, Organization, User

TOKEN_LINE = re.compile(r'^map "" \$portico_gateway_token \{ default "(prt_gw_\w+)"; \}\n$')


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def token_in(path) -> str:
    match = TOKEN_LINE.match(path.read_text())
    assert match, path.read_text()
    return match[1]


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


def test_right_after_the_demo_data_send_reminders_dry_run_lists_the_key_reminders(db, settings):
    settings.DEBUG = True
    seed()
    keys = {key.api.slug: key for key in ApiKey.objects.filter(consumer__username="consumer").select_related("api")}
    out = StringIO()

    call_command("send_reminders", "--dry-run", stdout=out)

    listed = out.getvalue()
    assert f"api_key #{keys['payments'].pk} expiring" in listed
    assert re.search(rf"api_key #{keys['payments'].pk} .*\(7-day reminder\)", listed)
    assert re.search(rf"api_key #{keys['weather'].pk} .*\(30-day reminder\)", listed)
    # Issued weeks before their expiry, as keys of a 30- and a 90-day lifetime are.
    assert keys["payments"].created_at < timezone.now() - timedelta(days=20)
    assert keys["weather"].created_at < timezone.now() - timedelta(days=60)


def test_every_demo_api_is_served_by_the_demo_gateway(db, settings, tmp_path):
    settings.DEBUG = True
    seed(gateway_dir=str(tmp_path), gateway_port=18080)

    target = RuntimeTarget.objects.get()
    assert (target.base_url, target.health_url) == (
        "http://127.0.0.1:18080/portico",
        "http://127.0.0.1:18080/portico/health",
    )
    assert set(Api.objects.values_list("runtime_target", flat=True)) == {target.pk}
    assert set(ApiKey.objects.values_list("deployment_state", flat=True)) <= {"pending", "deployed"}
    token = token_in(tmp_path / "gateway-token.conf")
    assert token.startswith(target.verify_token_prefix + "_")
    assert crypto.verify_secret(token, target.verify_token_digest)
    assert (tmp_path / "gateway-token.conf").stat().st_mode & 0o777 == 0o600
    # The token is a secret: only its prefix is in the audit log.
    assert not AuditEvent.objects.filter(summary__contains=token).exists()
    assert AuditEvent.objects.filter(
        action="runtime_target.create", summary__contains=target.verify_token_prefix
    ).exists()


def test_loading_the_demo_data_twice_changes_nothing(db, settings, tmp_path):
    settings.DEBUG = True
    seed(gateway_dir=str(tmp_path))

    def state():
        return (
            User.objects.count(),
            ConnectionRequest.objects.count(),
            list(ApiKey.objects.order_by("pk").values_list("pk", "created_at", "expires_at", "updated_at")),
            ApprovalRequest.objects.count(),
            list(RuntimeTarget.objects.values_list("pk", "base_url", "verify_token_digest")),
            KeyDeployment.objects.count(),
            AuditEvent.objects.count(),
            (tmp_path / "gateway-token.conf").read_text(),
        )

    first = state()
    second = seed(gateway_dir=str(tmp_path))
    assert state() == first
    assert "prt_key_" not in second


@pytest.mark.parametrize("token_file", ["missing", "another token", "not a token"])
def test_a_token_file_that_does_not_hold_the_targets_token_gets_new_credentials(db, settings, tmp_path, token_file):
    settings.DEBUG = True
    seed(gateway_dir=str(tmp_path))
    path = tmp_path / "gateway-token.conf"
    old_digest = RuntimeTarget.objects.get().verify_token_digest
    if token_file == "missing":
        path.unlink()
    elif token_file == "another token":
        path.write_text(f'map "" $portico_gateway_token {{ default "{crypto.generate_secret("gw").value}"; }}\n')
    else:
        path.write_text("garbage\n")

    seed(gateway_dir=str(tmp_path))

    target = RuntimeTarget.objects.get()
    assert target.verify_token_digest != old_digest
    assert crypto.verify_secret(token_in(path), target.verify_token_digest)
    assert path.stat().st_mode & 0o777 == 0o600
    assert AuditEvent.objects.filter(action="runtime_target.regenerate_credentials").count() == 1


def test_without_a_gateway_dir_the_target_is_made_and_no_token_is_written(db, settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    monkeypatch.chdir(tmp_path)
    seed()
    seed()

    assert RuntimeTarget.objects.count() == 1
    assert not AuditEvent.objects.filter(action="runtime_target.regenerate_credentials").exists()
    assert list(tmp_path.iterdir()) == []


def test_demo_data_is_refused_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        seed()
    assert not User.objects.exists()
