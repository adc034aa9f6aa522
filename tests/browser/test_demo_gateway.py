"""The live gateway of `make run`: Debian's nginx with the shipped deploy/nginx/portico-gateway.conf
in front of one demo upstream per demo API, served by the same nginx. Set up here as make run sets
it up (seed_demo's data and token file, then credentials.gateway.demo's configuration), on
live_server and free ports instead of 8000 and 8080.
"""

import http.client
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from approvals.demo import DEMO_APIS, DEMO_TARGET_NAME
from credentials.gateway import demo as demo_gateway
from credentials.gateway import services as gateway
from credentials.keys import tasks as key_tasks
from credentials.keys.deployment import check_target_health
from credentials.keys.models import ApiKey, RuntimeTarget
from tests.browser.helpers import login
from tests.subprocesses import free_ports, stop, wait_for_port

# seed_demo prints each new demo key once, as "  <API name>   <key>".
PRINTED_KEY = re.compile(r"^ +(?P<name>\S.*?) +(?P<key>prt_key_\S+)$", re.MULTILINE)
WEATHER, PAYMENTS = "Weather API", "Payments API"


@dataclass
class Demo:
    gateway: demo_gateway.DemoGateway
    keys: dict[str, str]  # API name -> the key seed_demo printed
    queued: list[tuple]  # deployments seed_demo queued, as make run's broker holds them

    def get(self, path: str, key: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.gateway.gateway_port, timeout=5)
        try:
            conn.request("GET", path, headers={"X-API-Key": key} if key else {})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()


@pytest.fixture
def demo(transactional_db, live_server, tmp_path, monkeypatch) -> Iterator[Demo]:
    missing = demo_gateway.missing_files()
    if missing:
        # Fail, never skip: make test installs nginx, so a missing one must not pass for green.
        pytest.fail(f"The demo gateway needs {', '.join(missing)}: {demo_gateway.INSTALL_COMMAND}", pytrace=False)
    # nginx's workers (nobody, when the tests run as root) use the verify cache, so its directory
    # must be one they may enter, which pytest's private temp dirs are not.
    runtime_dir = Path(tempfile.mkdtemp(prefix="portico-demo-nginx."))
    runtime_dir.chmod(0o755)
    portico_port = int(live_server.url.rsplit(":", 1)[1])
    gateway_port, *upstream_ports = free_ports(1 + len(DEMO_APIS))
    setup = demo_gateway.DemoGateway(
        conf_dir=tmp_path / "nginx",
        runtime_dir=runtime_dir,
        portico_port=portico_port,
        gateway_port=gateway_port,
        upstream_ports={api[0]: port for api, port in zip(DEMO_APIS, upstream_ports, strict=True)},
    )
    queued: list[tuple] = []
    out = StringIO()
    with monkeypatch.context() as patch:
        # make run seeds before its worker starts, so the deployments wait on the broker until nginx listens.
        patch.setattr(key_tasks.deploy_access_key, "apply_async", lambda args, **kwargs: queued.append(tuple(args)))
        patch.setattr(settings, "DEBUG", True)
        call_command("seed_demo", gateway_dir=str(setup.conf_dir), gateway_port=gateway_port, stdout=out)
    gateway.reset_state()  # live_server answers in a thread of this process, with its caches
    process = subprocess.Popen(  # noqa: S603 - fixed arguments; stays in pytest's process group
        setup.write(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(gateway_port, process, setup.error_log)
        keys = {match["name"]: match["key"] for match in PRINTED_KEY.finditer(out.getvalue())}
        yield Demo(gateway=setup, keys=keys, queued=queued)
    finally:
        stop(process)
        shutil.rmtree(runtime_dir, ignore_errors=True)
        gateway.reset_state()


def test_the_weather_key_seed_demo_printed_gets_the_upstreams_answer_at_weather(demo):
    status, body = demo.get("/weather/", demo.keys[WEATHER])

    assert status == 200
    answer = json.loads(body)
    assert answer["api"] == "weather"
    assert answer["consumer"] == "consumer"  # the upstream learns who called, never the key
    assert demo.keys[WEATHER] not in body


def test_without_a_key_every_demo_api_answers_a_plain_401(demo):
    for slug, *_rest in DEMO_APIS:
        assert demo.get(f"/{slug}/") == (401, "Unauthorized\n")


def test_a_key_of_another_api_is_refused_at_weather(demo):
    assert demo.get("/weather/", demo.keys[PAYMENTS]) == (401, "Unauthorized\n")
    assert demo.get("/payments/", demo.keys[PAYMENTS])[0] == 200


def test_every_demo_api_has_its_slug_as_path_and_its_own_upstream(demo):
    assert set(demo.keys) == {name for _slug, name, *_rest in DEMO_APIS}
    for slug, name, *_rest in DEMO_APIS:
        status, body = demo.get(f"/{slug}/", demo.keys[name])
        assert (status, json.loads(body)["api"]) == (200, slug)


def test_the_demo_keys_deploy_to_the_demo_nginx_and_my_api_keys_says_they_are_live_there(demo, page: Page, live_server):
    assert len(demo.queued) == len(DEMO_APIS)
    for args in demo.queued:  # what make run's worker does once it starts, after nginx
        key_tasks.deploy_access_key.apply(args=args)

    keys = ApiKey.objects.filter(consumer__username="consumer")
    assert {key.deployment_state for key in keys} == {ApiKey.Deployment.DEPLOYED}
    target = RuntimeTarget.objects.get()
    assert target.base_url == demo.gateway.base_url
    assert check_target_health(target.pk).health == RuntimeTarget.Health.UP
    assert demo.get(f"{demo_gateway.TARGET_PATH}/access-keys")[0] == 405  # deployments are POSTed
    login(page, live_server, "consumer")
    page.goto(live_server.url + reverse("credentials:my-api-keys"))
    for _slug, name, *_rest in DEMO_APIS:
        expect(page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))).to_contain_text(
            f"Live at {DEMO_TARGET_NAME}"
        )


def test_a_key_the_consumer_revokes_in_my_api_keys_is_refused_at_the_gateway_within_a_second(
    demo, page: Page, live_server
):
    key = demo.keys[WEATHER]
    login(page, live_server, "consumer")
    page.goto(live_server.url + reverse("credentials:my-api-keys"))
    row = page.get_by_role("row").filter(has=page.get_by_text(WEATHER, exact=True))
    assert demo.get("/weather/", key)[0] == 200  # nginx keeps this answer to the end of its second

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    # deploy/nginx/README.md: a 200 is kept to the end of the second it was given in, and
    # Portico's own answer never outlives its second either. So from the next whole second of the
    # clock on, every request is refused, however slow this machine answers.
    next_second = math.floor(time.time()) + 1
    answers: list[tuple[float, int]] = []  # (when the request was sent, its status)
    while time.time() < next_second + 1.5:
        sent = time.time()
        answers.append((sent, demo.get("/weather/", key)[0]))

    assert {status for _sent, status in answers} <= {200, 401}
    late = [status for sent, status in answers if sent >= next_second]
    assert late and set(late) == {401}, answers


def test_make_run_serves_a_path_for_every_demo_api():
    run_sh = (Path(settings.BASE_DIR) / "scripts" / "run.sh").read_text()
    listed = re.search(r"^demo_apis=\((.*)\)$", run_sh, re.MULTILINE)
    assert listed, "scripts/run.sh no longer lists the demo APIs as demo_apis=(SLUG=PORT ...)"
    served = dict(item.split("=") for item in listed[1].split())
    assert set(served) == {slug for slug, *_rest in DEMO_APIS}
    assert len(set(served.values())) == len(served)  # each its own upstream
