"""The real nginx (Debian's) with deploy/nginx/portico-gateway.conf protects a small API: it asks
Portico's /gateway/verify (served by live_server) with auth_request on every request."""

import hashlib
import hmac
import http.client
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from credentials.gateway import demo as demo_gateway
from credentials.gateway import services as gateway
from credentials.gateway import views as gateway_views
from credentials.keys import services as key_services
from credentials.keys import tasks as key_tasks
from credentials.keys.models import Api, ApiKey, RuntimeTarget
from credentials.lib import crypto
from portal import tasks as portal_tasks
from portal.roles import Role
from tests.credentials.gateway.helpers import wrong_secret_for
from tests.factories import UserFactory
from tests.subprocesses import free_ports, stop, wait_for_port


@dataclass
class Nginx:
    port: int
    access_log: Path
    cache_dir: Path

    def get(self, path: str = "/forecast/today", headers: dict[str, str] | None = None) -> tuple[int, list, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read().decode()
        finally:
            conn.close()

    def log_line(self, containing: str) -> str:
        """The access log line with `containing`: nginx writes it just after answering."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            for line in text.splitlines():
                if containing in line:
                    return line
            time.sleep(0.05)
        return ""


@pytest.fixture(scope="module")
def gateway_token() -> crypto.GeneratedSecret:
    return crypto.generate_secret("gw")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory, live_server, make_httpserver: HTTPServer, gateway_token) -> Iterator[Nginx]:
    missing = demo_gateway.missing_files()
    if missing:
        pytest.fail(f"These tests need {', '.join(missing)}: {demo_gateway.INSTALL_COMMAND}", pytrace=False)
    tmp = tmp_path_factory.mktemp("nginx")
    portico_port = int(live_server.url.rsplit(":", 1)[1])
    token_file = tmp / demo_gateway.TOKEN_FILE_NAME
    demo_gateway.write_token(token_file, gateway_token.value)
    access_log = tmp / "access.log"
    error_log = tmp / "error.log"
    # nginx's workers (nobody, when the tests run as root) open the cache's files, so its
    # directory's parents must let them through, which pytest's private temp dirs do not.
    runtime_dir = Path(tempfile.mkdtemp(prefix="portico-nginx-cache."))
    runtime_dir.chmod(0o755)
    cache_dir = runtime_dir / "verify"  # nginx creates it, for its workers' user
    (port,) = free_ports(1)
    api = f"127.0.0.1:{make_httpserver.port}"
    # The weather API at / and, as deploy/nginx/README.md says for a second API, maps at /maps/.
    site = tmp / "portico-gateway.conf"
    site.write_text(
        demo_gateway.render_gateway(
            demo_gateway.SHIPPED_CONF.read_text(),
            token_file=token_file,
            portico=f"127.0.0.1:{portico_port}",
            listen=f"127.0.0.1:{port}",
            access_log=access_log,
            cache_dir=cache_dir,
            locations=[demo_gateway.Location("/", "weather", api), demo_gateway.Location("/maps/", "maps", api)],
        )
    )
    (tmp / "nginx.conf").write_text(demo_gateway.nginx_conf(conf_dir=tmp, runtime_dir=runtime_dir, site=site))
    # Stays in pytest's process group, so a Ctrl-C stops it too.
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        demo_gateway.nginx_command(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, process, error_log)
        yield Nginx(port=port, access_log=access_log, cache_dir=cache_dir)
    finally:
        stop(process)
        shutil.rmtree(runtime_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_deliveries(monkeypatch):
    # The services queue deployments to the target and emails after commit (this test commits):
    # neither is what is tested here, and the target's base URL is not a real gateway.
    monkeypatch.setattr(key_tasks.deploy_access_key, "apply_async", lambda *args, **kwargs: None)
    monkeypatch.setattr(portal_tasks.deliver_email, "apply_async", lambda *args, **kwargs: None)


@pytest.fixture(autouse=True)
def fresh_gateway_state():
    # live_server answers in a thread of this process, with this process's caches.
    gateway.reset_state()
    yield
    gateway.reset_state()


@pytest.fixture
def upstream(httpserver: HTTPServer) -> list[Request]:
    """The protected API: it answers every request and remembers what reached it."""
    seen: list[Request] = []

    def answer(request: Request) -> Response:
        seen.append(request)
        return Response("Sunny, 21 degrees\n", content_type="text/plain")

    httpserver.expect_request(re.compile("/.*")).respond_with_handler(answer)
    return seen


@pytest.fixture
def api(transactional_db, organization, gateway_token):
    target = RuntimeTarget.objects.create(
        name="edge-nginx",
        base_url="https://edge.example.com",
        signing_secret="signing-secret",
        verify_token_prefix=gateway_token.prefix,
        verify_token_digest=gateway_token.digest,
    )
    return Api.objects.create(
        name="Weather", slug="weather", provider=organization, key_lifetime_days=30, runtime_target=target
    )


def assert_plain_401(status: int, headers: list[tuple[str, str]], body: str) -> None:
    assert status == 401
    assert body == "Unauthorized\n"
    assert [value for name, value in headers if name.lower() == "www-authenticate"] == [
        'ApiKey realm="api", header="X-API-Key"'
    ]
    assert not [name for name, _value in headers if name.lower().startswith("x-portico")]
    for reason in gateway.Reason:
        assert reason.value not in body.lower()


def test_an_active_key_reaches_the_api_which_learns_the_consumer_but_not_the_key(nginx, upstream, api, consumer):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)

    status, _headers, body = nginx.get(headers={"X-API-Key": secret.value})

    assert (status, body) == (200, "Sunny, 21 degrees\n")
    assert len(upstream) == 1
    assert upstream[0].headers.get("X-Portico-Consumer") == "consumer"
    assert "X-API-Key" not in upstream[0].headers


def test_the_key_may_come_in_the_apikey_header(nginx, upstream, api, consumer):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)

    status, _headers, _body = nginx.get(headers={"apikey": secret.value})

    assert status == 200


def test_a_renewed_key_still_passes(nginx, upstream, api, consumer):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))  # it ran out
    key_services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)

    status, _headers, body = nginx.get(headers={"X-API-Key": secret.value})

    assert (status, body) == (200, "Sunny, 21 degrees\n")


def test_a_rotated_key_passes_with_both_secrets_during_the_grace(nginx, upstream, api, consumer):
    key, old = key_services.api_key_issue(api=api, consumer=consumer)
    _key, new = key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(hours=1))

    assert nginx.get(headers={"X-API-Key": old.value})[0] == 200
    assert nginx.get(headers={"X-API-Key": new.value})[0] == 200


@pytest.mark.parametrize("case", ["revoked", "expired", "unknown", "malformed", "missing", "another-api", "pending"])
def test_a_refused_key_gets_a_plain_401_and_never_reaches_the_api(nginx, upstream, api, consumer, case):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer, pending=case == "pending")
    presented = secret.value
    if case == "revoked":
        key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    elif case == "expired":
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "unknown":
        presented = crypto.generate_secret("key").value
    elif case == "malformed":
        presented = secret.value[:-2]
    elif case == "another-api":
        maps = Api.objects.create(name="Maps", slug="maps", provider=api.provider, runtime_target=api.runtime_target)
        presented = key_services.api_key_issue(api=maps, consumer=consumer)[1].value

    headers = {} if case == "missing" else {"X-API-Key": presented}
    assert_plain_401(*nginx.get(headers=headers))
    assert upstream == []


def test_the_client_cannot_choose_the_api_or_claim_a_consumer(nginx, upstream, api, consumer):
    maps = Api.objects.create(name="Maps", slug="maps", provider=api.provider, runtime_target=api.runtime_target)
    _key, maps_secret = key_services.api_key_issue(api=maps, consumer=consumer)

    status, _headers, _body = nginx.get(
        headers={"X-API-Key": maps_secret.value, "X-Portico-Api": "maps", "X-Portico-Key": maps_secret.value}
    )
    assert status == 401

    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    status, _headers, _body = nginx.get(headers={"X-API-Key": secret.value, "X-Portico-Consumer": "admin"})
    assert status == 200
    assert upstream[-1].headers.get("X-Portico-Consumer") == "consumer"


def test_the_reason_is_in_the_access_log_for_operators(nginx, upstream, api, consumer):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    assert nginx.get("/forecast/log-check", headers={"X-API-Key": secret.value})[0] == 401

    line = nginx.log_line("/forecast/log-check")
    assert "key_refused=revoked" in line
    assert secret.value not in line


def test_a_gateway_with_a_wrong_token_fails_closed_with_the_same_plain_401(nginx, upstream, api, consumer):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    replacement = crypto.generate_secret("gw")  # the target's token was replaced; nginx still has the old one
    RuntimeTarget.objects.filter(pk=api.runtime_target_id).update(
        verify_token_prefix=replacement.prefix, verify_token_digest=replacement.digest
    )

    assert_plain_401(*nginx.get(headers={"X-API-Key": secret.value}))
    assert upstream == []


# --- The verify cache ------------------------------------------------------------------------------
# nginx keeps Portico's 200 answers until the end of the wall-clock second Portico gave them in
# (X-Accel-Expires: @<second>), keyed on the API and the key's HMAC-SHA256; refusals never.


@pytest.fixture
def verdicts(monkeypatch) -> list[float]:
    """When Portico judged a key (live_server answers in a thread of this process): one entry per
    verify that reached Portico, not one per request that nginx answered from its cache."""
    seen: list[float] = []
    judge = gateway_views.verify_key

    def counted(**kwargs):
        seen.append(time.time())
        return judge(**kwargs)

    monkeypatch.setattr(gateway_views, "verify_key", counted)
    return seen


def at_the_start_of_a_second() -> float:
    """Sleep until just after the next whole second of the wall clock (nginx's cache counts whole
    seconds), so that what follows happens within one second on any machine that is not stalled."""
    time.sleep(1.01 - time.time() % 1)
    return time.time()


def sleep_until_after_the_second_of(moment: float) -> None:
    """Sleep until 0.2 s past the end of the wall-clock second of `moment` (about 1.2 s after
    at_the_start_of_a_second()): an answer Portico gave then is no longer nginx's to use."""
    time.sleep(max(0.0, int(moment) + 1.2 - time.time()))


def test_a_busy_key_reaches_portico_once_a_second_and_every_request_the_api(nginx, upstream, api, consumer, verdicts):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)

    at_the_start_of_a_second()
    statuses = [nginx.get(f"/forecast/busy-{n}", headers={"X-API-Key": secret.value})[0] for n in range(10)]

    assert statuses == [200] * 10
    # At most one verify per second (two if the machine was slow enough to cross one), never ten.
    assert 1 <= len(verdicts) < 10
    assert len(verdicts) == len({int(second) for second in verdicts})
    assert "verify=HIT" in nginx.log_line("/forecast/busy-9") or len(verdicts) > 1
    # Answered from the cache, the API still learns the consumer, and still never the key.
    assert len(upstream) == 10
    assert {request.headers.get("X-Portico-Consumer") for request in upstream} == {"consumer"}
    assert not [request for request in upstream if "X-API-Key" in request.headers]


def test_a_revoked_key_is_refused_at_the_edge_once_its_cached_second_is_over(nginx, upstream, api, consumer, verdicts):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    at_the_start_of_a_second()
    assert nginx.get(headers={"X-API-Key": secret.value})[0] == 200

    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    # Portico itself knows at once (its own second is tested in tests/credentials/gateway/): what
    # is left is nginx's, until the end of the second Portico answered in.
    gateway.reset_state()
    sleep_until_after_the_second_of(verdicts[0])

    assert_plain_401(*nginx.get("/forecast/after-revoke", headers={"X-API-Key": secret.value}))
    assert len(verdicts) == 2
    assert "key_refused=revoked" in nginx.log_line("/forecast/after-revoke")
    assert len(upstream) == 1


def test_a_key_is_refused_within_its_cached_second_only_by_portico(nginx, upstream, api, consumer, verdicts):
    # The other side of the trade-off: within the second of a cached answer the edge does not ask.
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    at_the_start_of_a_second()
    assert nginx.get(headers={"X-API-Key": secret.value})[0] == 200
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    gateway.reset_state()

    status, _headers, _body = nginx.get("/forecast/within-the-second", headers={"X-API-Key": secret.value})

    if int(time.time()) == int(verdicts[0]):  # still the cached second (not so on a stalled machine)
        assert status == 200
        assert len(verdicts) == 1
        assert "verify=HIT" in nginx.log_line("/forecast/within-the-second")


def test_refusals_are_never_cached_so_a_renewed_key_passes_at_once(nginx, upstream, api, consumer, verdicts):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    at_the_start_of_a_second()
    assert nginx.get(headers={"X-API-Key": secret.value})[0] == 401

    key_services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)
    gateway.reset_state()

    assert nginx.get("/forecast/renewed", headers={"X-API-Key": secret.value})[0] == 200
    assert len(verdicts) == 2
    assert "verify=HIT" not in nginx.log_line("/forecast/renewed")


def test_distinct_keys_never_share_a_cache_entry(nginx, upstream, api, consumer, verdicts):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    other = UserFactory(username="other-consumer", organization=consumer.organization, roles=(Role.CONSUMER,))
    _other_key, other_secret = key_services.api_key_issue(api=api, consumer=other)
    at_the_start_of_a_second()
    assert nginx.get(headers={"X-API-Key": secret.value})[0] == 200

    # The same prefix with another secret, right after the key's answer was cached: refused.
    assert_plain_401(*nginx.get(headers={"X-API-Key": wrong_secret_for(secret.prefix)}))
    assert nginx.get(headers={"X-API-Key": other_secret.value})[0] == 200

    assert len(verdicts) == 3
    assert [request.headers.get("X-Portico-Consumer") for request in upstream] == ["consumer", "other-consumer"]


def test_distinct_apis_never_share_a_cache_entry(nginx, upstream, api, consumer, verdicts):
    Api.objects.create(name="Maps", slug="maps", provider=api.provider, runtime_target=api.runtime_target)
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    at_the_start_of_a_second()
    assert nginx.get("/forecast/today", headers={"X-API-Key": secret.value})[0] == 200

    # A key of the weather API, just cached for it, presented to the maps API behind the same nginx.
    assert_plain_401(*nginx.get("/maps/tiles", headers={"X-API-Key": secret.value}))
    assert len(verdicts) == 2
    assert [request.path for request in upstream] == ["/forecast/today"]


def test_the_cache_files_hold_the_keys_hmac_never_the_key(nginx, upstream, api, consumer, gateway_token):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    for path in ("/forecast/today", "/forecast/tomorrow"):
        assert nginx.get(path, headers={"X-API-Key": secret.value})[0] == 200

    files = [path.read_bytes() for path in nginx.cache_dir.rglob("*") if path.is_file()]
    everything = b"".join(files)
    assert secret.value.encode() not in everything
    assert secret.value.split("_")[-1].encode() not in everything  # not even the secret part alone
    digest = hmac.new(gateway_token.value.encode(), secret.value.encode(), hashlib.sha256).hexdigest()
    assert [content for content in files if f"KEY: weather {digest}".encode() in content]  # the cache is used


def test_an_answer_whose_second_is_over_is_never_used_even_when_portico_fails(
    nginx, upstream, api, consumer, verdicts, monkeypatch
):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    at_the_start_of_a_second()
    assert nginx.get(headers={"X-API-Key": secret.value})[0] == 200
    answered = verdicts[0]

    def broken(**kwargs):
        raise OperationalError("the database is gone")

    monkeypatch.setattr(gateway_views, "verify_key", broken)
    sleep_until_after_the_second_of(answered)

    assert nginx.get("/forecast/portico-fails", headers={"X-API-Key": secret.value})[0] == 500  # fails closed
    assert len(upstream) == 1
