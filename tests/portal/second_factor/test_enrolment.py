"""Hub admins and approvers enrol an authenticator app in User Preferences, with recovery codes."""

from base64 import b32encode
from datetime import timedelta
from io import StringIO

import pytest
from django_otp.plugins.otp_static.models import StaticToken

from portal.models import AuditEvent
from portal.second_factor.models import AuthenticatorApp
from tests.portal.second_factor.conftest import RECOVERY_CODE, app_code, wrong_code

PREFERENCES = "/preferences/"
START = "/preferences/second-factor/start/"
ENROL = "/preferences/second-factor/enrol/"
CONFIRM = "/confirm-its-you/"


def audit_text() -> str:
    return " ".join(f"{e.action} {e.target_repr} {e.summary}" for e in AuditEvent.objects.all())


@pytest.mark.parametrize("role", ["hub_admin", "approver"])
def test_hub_admins_and_approvers_are_offered_a_second_factor(client, request, role):
    client.force_login(request.getfixturevalue(role))
    page = client.get(PREFERENCES).content.decode()
    assert '<h2 id="second-factor-title">Second factor</h2>' in page
    assert "Set up a second factor" in page


def test_other_roles_see_no_second_factor_and_may_not_enrol(client, consumer):
    client.force_login(consumer)
    assert "Second factor" not in client.get(PREFERENCES).content.decode()
    assert client.post(START).status_code == 403
    assert not AuthenticatorApp.objects.exists()


def test_the_enrol_page_shows_the_key_as_text_and_as_an_inline_svg_qr_code(client, hub_admin):
    client.force_login(hub_admin)
    client.post(START)
    device = AuthenticatorApp.objects.get(user=hub_admin)
    response = client.get(ENROL)
    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert '<svg role="img" aria-label="QR code of your Portico authenticator key"' in page
    assert "data:image" not in page
    secret = b32encode(device.bin_key).decode()
    shown = page.split('id="manual-key"', 1)[1].split("</code>", 1)[0]
    assert "".join(shown.split(">", 1)[1].split()) == secret


def test_a_wrong_code_does_not_enrol_and_the_apps_code_does(client, hub_admin, clock):
    client.force_login(hub_admin)
    client.post(START)
    device = AuthenticatorApp.objects.get(user=hub_admin)

    refused = client.post(ENROL, {"code": wrong_code(device)})
    assert refused.status_code == 200
    assert "That code is not right" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert AuditEvent.objects.filter(action="second_factor.verification_failed", actor=hub_admin).count() == 1

    clock.shift(timedelta(seconds=30))
    response = client.post(ENROL, {"code": app_code(device)})
    page = response.content.decode()
    assert "Your second factor is set up" in page
    assert "no-store" in response["Cache-Control"]
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action="second_factor.enrolled", actor=hub_admin).count() == 1

    recovery_codes = RECOVERY_CODE.findall(page)
    assert len(set(recovery_codes)) == 10
    # Stored as keyed hashes: no recovery code (with or without its hyphen) in the database or the audit log.
    stored = set(StaticToken.objects.filter(device__user=hub_admin).values_list("token", flat=True))
    assert len(stored) == 10
    for code in recovery_codes:
        assert code not in stored and code.replace("-", "") not in stored
        assert code not in audit_text() and code.replace("-", "") not in audit_text()
    assert device.key not in audit_text()

    shown = client.get(PREFERENCES).content.decode()
    assert "Authenticator app enrolled since" in shown
    assert "10 of 10 left" in shown
    assert recovery_codes[0] not in shown  # shown once


def test_a_recovery_code_confirms_once(enrolled_approver, clock):
    client = enrolled_approver.client
    code = enrolled_approver.recovery_codes[0]
    clock.shift(timedelta(minutes=20))

    response = client.post(CONFIRM, {"code": code.upper().replace("-", " ")})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="second_factor.step_up")
    assert "recovery code" in event.summary and "9 recovery codes left" in event.summary

    again = client.post(CONFIRM, {"code": code})
    assert again.status_code == 200
    assert "That code is not right" in again.content.decode()
    assert "9 of 10 left" in client.get(PREFERENCES).content.decode()


def test_new_recovery_codes_ask_for_a_fresh_check_and_replace_the_old_ones(enrolled_approver, clock):
    client = enrolled_approver.client
    old = enrolled_approver.recovery_codes
    clock.shift(timedelta(minutes=16))
    refused = client.post("/preferences/second-factor/recovery-codes/")
    assert refused.status_code == 403
    assert "Confirm it's you" in refused.content.decode()

    client.post(CONFIRM, {"code": enrolled_approver.code()})
    response = client.post("/preferences/second-factor/recovery-codes/")
    new = RECOVERY_CODE.findall(response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="second_factor.recovery_codes_regenerated").count() == 1

    clock.shift(timedelta(minutes=1))
    assert client.post(CONFIRM, {"code": old[1]}).status_code == 200  # refused: shown again with the error
    assert client.post(CONFIRM, {"code": new[1]}).status_code == 302


def test_removing_the_second_factor_asks_for_a_current_code(enrolled_hub_admin):
    client = enrolled_hub_admin.client
    refused = client.post("/preferences/second-factor/remove/", {"code": wrong_code(enrolled_hub_admin.device)})
    assert refused.status_code == 200
    assert "That code is not right" in refused.content.decode()
    assert AuthenticatorApp.objects.filter(user=enrolled_hub_admin.user).exists()

    response = client.post("/preferences/second-factor/remove/", {"code": enrolled_hub_admin.code()}, follow=True)
    assert "Your second factor is removed" in response.content.decode()
    assert not AuthenticatorApp.objects.filter(user=enrolled_hub_admin.user).exists()
    assert not StaticToken.objects.filter(device__user=enrolled_hub_admin.user).exists()
    assert AuditEvent.objects.filter(action="second_factor.removed", actor=enrolled_hub_admin.user).count() == 1


def test_five_wrong_codes_lock_further_attempts_for_fifteen_minutes(enrolled_approver, clock):
    client = enrolled_approver.client
    device = enrolled_approver.device
    clock.shift(timedelta(minutes=20))
    for _ in range(5):
        page = client.post(CONFIRM, {"code": wrong_code(device)}).content.decode()
    assert "Too many wrong codes. Try again in 15 minutes" in page

    # Even the right code (and a recovery code) is refused while locked, and not counted.
    refused = client.post(CONFIRM, {"code": enrolled_approver.code()})
    assert "Too many wrong codes" in refused.content.decode()
    assert client.post(CONFIRM, {"code": enrolled_approver.recovery_codes[0]}).status_code == 200
    assert AuditEvent.objects.filter(action="second_factor.verification_failed").count() == 7
    device.refresh_from_db()
    assert device.throttling_failure_count == 5

    clock.shift(timedelta(minutes=14))
    assert "Too many wrong codes" in client.post(CONFIRM, {"code": enrolled_approver.code()}).content.decode()
    clock.shift(timedelta(minutes=1, seconds=1))
    assert client.post(CONFIRM, {"code": enrolled_approver.code()}).status_code == 302


def test_four_wrong_codes_do_not_lock(enrolled_approver, clock):
    client = enrolled_approver.client
    clock.shift(timedelta(minutes=20))
    for _ in range(4):
        client.post(CONFIRM, {"code": wrong_code(enrolled_approver.device)})
    assert client.post(CONFIRM, {"code": enrolled_approver.code()}).status_code == 302


def test_enrolling_again_without_removing_is_refused(enrolled_hub_admin):
    response = enrolled_hub_admin.client.post(START, follow=True)
    assert "You already have a second factor" in response.content.decode()
    assert AuthenticatorApp.objects.filter(user=enrolled_hub_admin.user).count() == 1


def test_the_apps_key_is_encrypted_at_rest_and_rotated_with_the_other_secrets(enrolled_hub_admin, settings, clock):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.db import connection

    def stored_key() -> str:
        with connection.cursor() as cursor:
            table = AuthenticatorApp._meta.db_table
            cursor.execute(f"SELECT key FROM {table} WHERE id = %s", [enrolled_hub_admin.device.pk])  # noqa: S608
            return cursor.fetchone()[0]

    hex_key = enrolled_hub_admin.device.key
    before = stored_key()
    assert hex_key not in before
    assert Fernet(settings.PORTICO_ENCRYPTION_KEYS[0].encode()).decrypt(before.encode()).decode() == hex_key

    new_key = Fernet.generate_key().decode()
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, *settings.PORTICO_ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", stdout=StringIO())

    assert Fernet(new_key.encode()).decrypt(stored_key().encode()).decode() == hex_key
    # The app's codes still pass after the rotation.
    response = enrolled_hub_admin.client.post("/confirm-its-you/", {"code": enrolled_hub_admin.code()})
    assert response.status_code == 302
