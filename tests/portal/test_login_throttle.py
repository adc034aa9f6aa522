"""Interactive log-on is throttled (django-axes): after a few wrong passwords for one user from one
address, that user is refused from that address for a cool-off, with a page that says how long;
an admin can lift it. Unknown users are answered exactly like wrong passwords."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.utils import timezone

from tests.factories import TEST_PASSWORD, UserFactory

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/django-admin/login/"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
WRONG_PASSWORD_ERROR = "Please enter a correct username and password"


def log_on(client, username: str, password: str, *, ip: str = ATTACKER, url: str = LOGIN, **extra: str):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def fail(client, username: str, times: int, **kwargs):
    return [log_on(client, username, "wrong-password", **kwargs) for _ in range(times)]


def message(response) -> str:
    """The lockout page's words, as a person reads them (no tokens, no markup)."""
    match = re.search(
        r'<section class="card card--narrow lockout"[^>]*>(.*?)</section>', response.content.decode(), re.S
    )
    assert match, response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.fixture
def superuser(organization):
    return UserFactory(username="root", organization=organization, is_staff=True, is_superuser=True)


# --- the lockout --------------------------------------------------------------------------------
def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_a_wait(client, consumer):
    answers = fail(client, "consumer", 5)

    refused = log_on(client, "consumer", TEST_PASSWORD)

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]
    assert refused.status_code == 429
    assert SESSION_KEY not in client.session
    assert "Too many failed log-on attempts" in message(refused)
    assert "Try again in 15 minutes" in message(refused)
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60
    assert client.get("/").status_code == 302  # still logged out


def test_the_wait_shrinks_as_the_cool_off_passes(client, consumer, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    fail(client, "consumer", 5)

    time_machine.shift(timedelta(minutes=10))
    refused = log_on(client, "consumer", TEST_PASSWORD)

    assert refused.status_code == 429 and "Try again in 5 minutes" in message(refused)


def test_after_the_cool_off_the_right_password_works_again(client, consumer, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    fail(client, "consumer", 5)

    time_machine.shift(timedelta(minutes=15, seconds=1))
    response = log_on(client, "consumer", TEST_PASSWORD)

    assert response.status_code == 302 and client.session[SESSION_KEY] == str(consumer.pk)


def test_the_lockout_holds_for_that_user_at_that_address_only(client, consumer, org_admin):
    fail(client, "consumer", 5)

    # The owner, from their own address, is not locked out by someone else's guessing.
    assert log_on(client, "consumer", TEST_PASSWORD, ip=OWNER).status_code == 302
    client.logout()
    # Another user at the guessing address is not locked out either.
    assert log_on(client, "org-admin", TEST_PASSWORD).status_code == 302


def test_an_unknown_user_is_answered_exactly_like_a_wrong_password(client, consumer):
    known = fail(client, "consumer", 5, ip=ATTACKER)
    unknown = fail(client, "nobody-here", 5, ip=OWNER)

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [200, 200, 200, 200, 429]
    assert all(WRONG_PASSWORD_ERROR in r.content.decode() for r in known[:4] + unknown[:4])
    assert message(known[4]) == message(unknown[4])
    assert message(log_on(client, "consumer", TEST_PASSWORD)) == message(log_on(client, "nobody-here", "x", ip=OWNER))


class CountingHasher(PBKDF2PasswordHasher):
    """Counts the password hashes computed: the work that a log-on's time is made of."""

    iterations = 1_000
    hashes = 0

    def encode(self, password, salt, iterations=None):
        CountingHasher.hashes += 1
        return super().encode(password, salt, iterations)


def test_a_wrong_password_and_an_unknown_user_cost_the_same_work(client, settings, consumer):
    # Equal work, not equal measured time (a timed assertion would only measure the machine): each
    # attempt computes exactly one password hash, whether or not the user exists.
    settings.PASSWORD_HASHERS = ["tests.portal.test_login_throttle.CountingHasher"]
    consumer.set_password(TEST_PASSWORD)
    consumer.save()

    def hashes_of(username: str, ip: str) -> int:
        before = CountingHasher.hashes
        assert log_on(client, username, "wrong-password", ip=ip).status_code == 200
        return CountingHasher.hashes - before

    assert hashes_of("consumer", "192.0.2.1") == hashes_of("nobody-here", "192.0.2.2") == 1


# --- where it applies -----------------------------------------------------------------------------
def test_the_django_admin_log_on_is_throttled_too(client, superuser):
    answers = fail(client, "root", 5, url=ADMIN_LOGIN)

    refused = log_on(client, "root", TEST_PASSWORD, url=ADMIN_LOGIN)

    assert answers[-1].status_code == 429
    assert refused.status_code == 429 and "Try again in 15 minutes" in message(refused)
    assert SESSION_KEY not in client.session


def test_the_throttle_counts_the_address_our_proxy_saw_not_the_one_the_client_wrote(client, consumer, settings):
    from axes.models import AccessAttempt

    settings.PORTICO_TRUSTED_PROXY_COUNT = 1
    for number in range(5):
        log_on(
            client, "consumer", "wrong-password", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, {ATTACKER}"
        )

    refused = log_on(client, "consumer", TEST_PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=ATTACKER)
    allowed = log_on(client, "consumer", TEST_PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=OWNER)

    assert refused.status_code == 429
    assert allowed.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


# --- an admin lifts it ----------------------------------------------------------------------------
def test_an_admin_lifts_a_lockout_with_the_management_command(client, consumer):
    fail(client, "consumer", 5)

    call_command("axes_reset_username", "consumer")

    assert log_on(client, "consumer", TEST_PASSWORD).status_code == 302


def test_an_admin_sees_the_lockout_in_the_django_admin_and_deletes_it(client, consumer, superuser):
    from axes.models import AccessAttempt

    fail(client, "consumer", 5)
    attempt = AccessAttempt.objects.get(username="consumer")
    admin = client.__class__()
    admin.force_login(superuser)

    listed = admin.get("/django-admin/axes/accessattempt/")
    deleted = admin.post(f"/django-admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert listed.status_code == 200 and "consumer" in listed.content.decode()
    assert deleted.status_code == 302 and not AccessAttempt.objects.exists()
    assert log_on(client, "consumer", TEST_PASSWORD).status_code == 302


# --- a successful log-on ----------------------------------------------------------------------------
def test_logging_on_gives_the_browser_a_new_session_key(client, consumer):
    session = client.session
    session["seen_before_login"] = True
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before

    response = log_on(client, "consumer", TEST_PASSWORD, ip=OWNER)

    after = client.cookies["sessionid"].value
    assert response.status_code == 302
    assert after and after != before
    assert client.session[SESSION_KEY] == str(consumer.pk)
    assert not session.exists(before)  # the old key no longer opens a session
