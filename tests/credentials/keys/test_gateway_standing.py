"""How each key stands at its API's gateway (runtime target), in a consumer's words, on My API Keys
and on Admin Center > Runtime targets: live, waiting (and when Portico tries again), refused (and
why), removed, not sent; the same queries at any number of keys."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.keys.models import Api, ApiKey, KeyDeployment, RuntimeTarget
from credentials.keys.selectors import STUCK_KEYS_SHOWN
from tests.credentials.keys.helpers import HTMX, page_text
from tests.factories import ApiFactory, ApiKeyFactory, RuntimeTargetFactory, UserFactory

MY_KEYS = "/preferences/api-keys/"
TARGETS = "/admin-center/targets/"
REFUSAL = "The target refused the deployment (HTTP 422: unknown_api)."
UNAVAILABLE = "The target is unavailable (HTTP 503)."
RETRIES = "Waiting for Demo gateway The gateway is unavailable; Portico retries at"
NO_RETRY = "Portico does not retry a refusal: an administrator sends it again once the gateway is fixed."


def local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return f"{timezone.localtime(value):{fmt}}"


@pytest.fixture
def gateway(db) -> RuntimeTarget:
    return RuntimeTargetFactory(name="Demo gateway")


@pytest.fixture
def weather(gateway) -> Api:
    return ApiFactory(name="Weather API", slug="weather", key_lifetime_days=90, runtime_target=gateway)


def deploy(key: ApiKey, target: RuntimeTarget, state: str, **fields: object) -> KeyDeployment:
    return KeyDeployment.objects.create(api_key=key, target=target, reason="issued", payload={}, state=state, **fields)


def deployment_cell(response, key: ApiKey) -> str:
    """The text of the key's Deployment cell on My API Keys, tags and extra spaces removed."""
    row = re.search(rf'<tr id="key-{key.pk}".*?</tr>', page_text(response), re.S)
    assert row, f"no row for key {key.pk}"
    cell = re.search(r'<td data-label="Deployment">(.*?)</td>', row.group(0), re.S)
    assert cell
    return " ".join(re.sub(r"<[^>]+>", " ", cell.group(1)).split())


def my_cell(client, consumer, key: ApiKey) -> str:
    client.force_login(consumer)
    return deployment_cell(client.get(MY_KEYS), key)


# --- My API Keys: one key in each state ---------------------------------------------------------
def test_my_api_keys_says_live_at_the_gateway_since_it_took_the_key(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    deployed_at = timezone.now() - timedelta(days=2)
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, attempts=1, deployed_at=deployed_at)
    assert my_cell(client, consumer, key) == f"Live at Demo gateway since {local(deployed_at)}"


@pytest.mark.parametrize(
    ("attempts", "lease"),
    [(0, timedelta(0)), (1, timedelta(minutes=6))],  # queued; its first attempt in flight (claimed)
)
def test_a_key_not_tried_yet_is_being_sent_now(client, consumer, weather, gateway, attempts, lease):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    deploy(key, gateway, KeyDeployment.State.PENDING, attempts=attempts, next_attempt_at=timezone.now() + lease)
    assert my_cell(client, consumer, key) == "Waiting for Demo gateway being sent now"


def test_a_key_the_gateway_could_not_take_says_when_portico_tries_again(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    next_try = timezone.now() + timedelta(minutes=4)
    deploy(key, gateway, KeyDeployment.State.PENDING, attempts=2, last_error=UNAVAILABLE, next_attempt_at=next_try)
    assert my_cell(client, consumer, key) == (f"{RETRIES} {local(next_try, '%H:%M')} (attempt 3).")


def test_a_retry_that_is_due_says_within_a_minute(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    past = timezone.now() - timedelta(minutes=1)
    deploy(key, gateway, KeyDeployment.State.PENDING, attempts=1, last_error=UNAVAILABLE, next_attempt_at=past)
    assert "Portico retries within a minute (attempt 2)." in my_cell(client, consumer, key)


def test_a_refused_key_shows_the_reason_and_that_portico_does_not_retry(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    deploy(key, gateway, KeyDeployment.State.FAILED, attempts=1, last_error=REFUSAL)
    assert my_cell(client, consumer, key) == f"Refused by Demo gateway {REFUSAL} {NO_RETRY}"


def test_a_key_of_an_api_without_a_gateway_says_so_instead_of_a_dash(client, consumer):
    key = ApiKeyFactory(consumer=consumer, api=ApiFactory(runtime_target=None))
    cell = my_cell(client, consumer, key)
    assert cell == "Not enforced by a gateway No gateway is connected to this API in Portico."
    assert "—" not in cell


def test_a_revoked_key_whose_revocation_reached_the_gateway_is_removed_from_it(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather, status=ApiKey.Status.REVOKED, revoked_at=timezone.now())
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now() - timedelta(days=9))
    removed_at = timezone.now() - timedelta(hours=3)
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, deployed_at=removed_at)
    assert my_cell(client, consumer, key) == f"Removed from Demo gateway since {local(removed_at)}"


def test_a_key_waiting_for_approval_is_not_deployed_yet(client, consumer, weather):
    key = ApiKeyFactory(consumer=consumer, api=weather, status=ApiKey.Status.PENDING, expires_at=None)
    assert my_cell(client, consumer, key) == "Not deployed yet Portico sends it to Demo gateway once it is approved."


def test_a_rejected_key_was_never_deployed(client, consumer, weather):
    key = ApiKeyFactory(consumer=consumer, api=weather, status=ApiKey.Status.REJECTED, expires_at=None)
    assert my_cell(client, consumer, key) == "Not deployed A rejected key is never sent to a gateway."


def test_an_expired_key_is_refused_at_the_gateway_until_renewed(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather, expires_at=timezone.now() - timedelta(hours=1))
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now() - timedelta(days=30))
    assert my_cell(client, consumer, key) == "Expired at Demo gateway The gateway refuses it until it is renewed."


def test_a_key_never_sent_to_its_gateway_says_it_is_not_there(client, consumer, weather):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    assert my_cell(client, consumer, key) == "Not at Demo gateway Portico has not sent this key there."


def test_the_latest_deployment_is_what_stands(client, consumer, weather, gateway):
    refused_then_live = ApiKeyFactory(consumer=consumer, api=weather)
    deploy(refused_then_live, gateway, KeyDeployment.State.FAILED, last_error=REFUSAL)
    deploy(refused_then_live, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    other = ApiKeyFactory(consumer=consumer, api=ApiFactory(runtime_target=gateway))
    deploy(other, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    deploy(other, gateway, KeyDeployment.State.PENDING, next_attempt_at=timezone.now())
    client.force_login(consumer)
    response = client.get(MY_KEYS)
    assert deployment_cell(response, refused_then_live).startswith("Live at Demo gateway")
    assert deployment_cell(response, other).startswith("Waiting for Demo gateway")


def test_what_a_previous_gateway_holds_does_not_count(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    old = RuntimeTargetFactory(name="Old gateway")
    deploy(key, gateway, KeyDeployment.State.PENDING, next_attempt_at=timezone.now())
    deploy(key, old, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())  # its removal there, newer
    assert my_cell(client, consumer, key) == "Waiting for Demo gateway being sent now"


def test_the_htmx_key_table_and_an_updated_row_show_the_same_words(client, consumer, weather, gateway):
    key = ApiKeyFactory(consumer=consumer, api=weather)
    deploy(key, gateway, KeyDeployment.State.FAILED, last_error=REFUSAL)
    client.force_login(consumer)
    table = client.get(MY_KEYS, headers=HTMX)
    assert "<html" not in table.content.decode()
    assert deployment_cell(table, key).startswith("Refused by Demo gateway")

    revoked = client.post(f"/preferences/api-keys/{key.pk}/revoke/", headers=HTMX)  # the row, updated

    assert revoked.status_code == 200 and "<html" not in revoked.content.decode()
    assert deployment_cell(revoked, key) == "Waiting for Demo gateway being sent now"


def make_deployed_keys(consumer, target: RuntimeTarget, start: int, stop: int) -> None:
    """Keys of the consumer for APIs of `target`, each with a refused then a pending deployment."""
    for n in range(start, stop):
        key = ApiKeyFactory(consumer=consumer, api=ApiFactory(name=f"API {n:03d}", runtime_target=target))
        deploy(key, target, KeyDeployment.State.FAILED, last_error=REFUSAL)
        deploy(key, target, KeyDeployment.State.PENDING, attempts=1, last_error=UNAVAILABLE)


def test_my_api_keys_costs_the_same_queries_at_1_and_at_40_deployed_keys(client, consumer, gateway):
    client.force_login(consumer)
    client.get(MY_KEYS)  # the session's first request
    make_deployed_keys(consumer, gateway, 0, 1)
    with CaptureQueriesContext(connection) as one:
        assert "Waiting for Demo gateway" in client.get(MY_KEYS).content.decode()
    make_deployed_keys(consumer, gateway, 1, 40)
    with CaptureQueriesContext(connection) as many:
        assert client.get(MY_KEYS).content.decode().count("Waiting for Demo gateway") == 40
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


# --- Admin Center > Runtime targets -------------------------------------------------------------
def target_section(response, target: RuntimeTarget) -> str:
    text = page_text(response)
    found = re.search(rf'<section id="target-{target.pk}-keys".*?</section>', text, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split()) if found else ""


def target_row(response, target: RuntimeTarget) -> str:
    found = re.search(rf'<tr id="target-{target.pk}">.*?</tr>', page_text(response), re.S)
    assert found
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


@pytest.fixture
def standing_keys(weather, gateway, organization):
    """Of the Weather API on Demo gateway: ada's key live (after a refusal), bob's waiting, cyd's
    refused, dee's revoked and removed; eve's key is live but past its expiry."""
    keys = {}
    for name in ("ada", "bob", "cyd", "dee", "eve"):
        holder = UserFactory(username=name, first_name=name.title(), last_name="Holder", organization=organization)
        keys[name] = ApiKeyFactory(consumer=holder, api=weather, prefix=f"prt_key_{name}12345")
    deploy(keys["ada"], gateway, KeyDeployment.State.FAILED, last_error=REFUSAL)
    deploy(keys["ada"], gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    deploy(
        keys["bob"],
        gateway,
        KeyDeployment.State.PENDING,
        attempts=3,
        last_error=UNAVAILABLE,
        next_attempt_at=timezone.now() + timedelta(minutes=8),
    )
    deploy(keys["cyd"], gateway, KeyDeployment.State.FAILED, attempts=1, last_error=REFUSAL)
    ApiKey.objects.filter(pk=keys["dee"].pk).update(status=ApiKey.Status.REVOKED)
    deploy(keys["dee"], gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    ApiKey.objects.filter(pk=keys["eve"].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    deploy(keys["eve"], gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now() - timedelta(days=1))
    return keys


def test_each_target_counts_its_keys_live_waiting_and_refused(client, hub_admin, gateway, standing_keys):
    client.force_login(hub_admin)
    row = target_row(client.get(TARGETS), gateway)
    assert "1 live" in row and "1 waiting" in row and "1 refused" in row
    assert "Retry failed deployments" in row


def test_the_waiting_and_refused_keys_are_listed_in_the_same_words(client, hub_admin, gateway, standing_keys):
    client.force_login(hub_admin)
    response = client.get(TARGETS)
    section = target_section(response, gateway)
    bob = re.search(r"Weather API Bob Holder prt_key_bob12345 .*?\(attempt 4\)\.", section)
    next_try = KeyDeployment.objects.get(api_key=standing_keys["bob"]).next_attempt_at
    assert bob and bob.group(0).endswith(f"{RETRIES} {local(next_try, '%H:%M')} (attempt 4).")
    assert f"Weather API Cyd Holder prt_key_cyd12345 Refused by Demo gateway {REFUSAL} {NO_RETRY}" in section
    assert section.index("Cyd Holder") < section.index("Bob Holder"), "refused keys first: someone must act"
    for settled in ("Ada Holder", "Dee Holder", "Eve Holder"):
        assert settled not in section


def test_a_target_whose_keys_all_stand_lists_none(client, hub_admin, gateway, weather):
    key = ApiKeyFactory(consumer=UserFactory(), api=weather)
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    client.force_login(hub_admin)
    response = client.get(TARGETS)
    assert target_section(response, gateway) == ""
    row = target_row(response, gateway)
    assert "1 live" in row and "waiting" not in row and "refused" not in row


def test_a_gateway_the_api_left_holds_its_keys_removed_not_live(client, hub_admin, gateway, weather):
    old = RuntimeTargetFactory(name="Old gateway")
    key = ApiKeyFactory(consumer=UserFactory(), api=weather)
    deploy(key, old, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())  # sent "removed" when the API moved
    deploy(key, gateway, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())
    client.force_login(hub_admin)
    response = client.get(TARGETS)
    assert "0 live" in target_row(response, old)
    assert "1 live" in target_row(response, gateway)


def test_a_long_list_of_stuck_keys_shows_the_first_and_counts_the_rest(client, hub_admin, gateway, weather):
    for n in range(STUCK_KEYS_SHOWN + 5):
        key = ApiKeyFactory(consumer=UserFactory(username=f"holder-{n:03d}"), api=weather)
        deploy(key, gateway, KeyDeployment.State.FAILED, last_error=REFUSAL)
    client.force_login(hub_admin)
    section = target_section(client.get(TARGETS), gateway)
    assert section.count("Refused by Demo gateway") == STUCK_KEYS_SHOWN
    assert "and 5 more" in section
    assert f"{STUCK_KEYS_SHOWN + 5} refused" in target_row(client.get(TARGETS), gateway)


def make_stuck_target(name: str, keys: int) -> None:
    target = RuntimeTargetFactory(name=name)
    api = ApiFactory(runtime_target=target)
    for n in range(keys):
        key = ApiKeyFactory(consumer=UserFactory(), api=api)
        deploy(key, target, KeyDeployment.State.FAILED if n % 2 else KeyDeployment.State.PENDING, last_error=REFUSAL)
        if n % 3 == 0:
            deploy(key, target, KeyDeployment.State.DEPLOYED, deployed_at=timezone.now())


def test_the_targets_page_costs_the_same_queries_at_1_and_at_many_keys(client, hub_admin, django_assert_num_queries):
    client.force_login(hub_admin)
    make_stuck_target("gw-a", 1)
    client.get(TARGETS)  # the session's first request
    with CaptureQueriesContext(connection) as few:
        assert client.get(TARGETS).status_code == 200
    make_stuck_target("gw-b", 40)
    make_stuck_target("gw-c", 12)
    with django_assert_num_queries(len(few)):
        response = client.get(TARGETS)
    assert "and 6 more" in page_text(response)  # gw-b: 40 keys, of which 14 stand live


def test_the_htmx_refresh_keeps_polling_and_carries_the_key_lists(client, hub_admin, gateway, standing_keys):
    client.force_login(hub_admin)
    response = client.get(TARGETS, headers=HTMX)
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert 'id="target-results"' in fragment and 'hx-trigger="every 60s"' in fragment
    assert "Refused by Demo gateway" in target_section(response, gateway)
