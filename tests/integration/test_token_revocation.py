"""Revocation of access tokens across processes, on PostgreSQL: two web processes (gunicorn, one
sync worker each) keep their own facts of each credential for at most CACHE_SECONDS
(credentials/integration/credential_facts.py). Their tokens are polled on both while this process
changes a secret, deletes a credential and demotes a credential's role: no answer to a request
sent more than CACHE_SECONDS after the change committed may still let the token through.

Bounded: every wait shares DEADLINE_SECONDS. The figures are appended to test-results/token_revocation.json.
"""

import base64
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from credentials.integration import services as integration_services
from credentials.integration.credential_facts import CACHE_SECONDS
from tests.factories import make_api_credential
from tests.integration.processes import Processes, database_url, report, unused_port, wait_for, wait_for_web

DEADLINE_SECONDS = 60
JSONAPI = "application/vnd.api+json"
WARM_ANSWERS = 5  # answers let through on each process before the change: its facts are cached
AFTER_SECONDS = CACHE_SECONDS + 1.0  # how long the polls go on after the change


def request(port: int, method: str, path: str, token: str, body: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Accept": JSONAPI}
    if body:
        headers["Content-Type"] = JSONAPI
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status


@dataclass
class Poller:
    """One thread sending one request to one web process again and again, back to back."""

    port: int
    method: str
    path: str
    token: str
    body: str = ""
    answers: list[tuple[float, int]] = field(default_factory=list)  # (sent, status)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                sent = time.monotonic()
                self.answers.append((sent, request(self.port, self.method, self.path, self.token, self.body)))
        except BaseException as exc:  # reported by the test's thread
            self.error = exc

    def passed(self, after: float = 0.0) -> list[float]:
        return [sent for sent, status in list(self.answers) if status == 200 and sent >= after]


@pytest.fixture
def processes(transactional_db, tmp_path: Path) -> Iterator[Processes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    started = Processes(tmp_path, env)
    try:
        yield started
    finally:
        started.stop()


def token_for(port: int, client_id: str, secret: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/oauth/token",
            body="grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": _basic(client_id, secret)},
        )
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200, body
    return body["access_token"]


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.django_db(transaction=True)
def test_a_changed_secret_a_deleted_credential_and_a_demoted_role_stop_their_tokens_on_every_process_within_a_second(
    organization, org_admin, processes
):
    deadline = time.monotonic() + DEADLINE_SECONDS
    ports = [unused_port(), unused_port()]
    for number, port in enumerate(ports, start=1):
        wait_for_web(processes.start_web(f"web{number}", port), deadline, processes)
    rekeyed, rekeyed_secret = make_api_credential(organization, name="Secret changed")
    deleted, deleted_secret = make_api_credential(organization, name="Deleted")
    demoted, demoted_secret = make_api_credential(organization, name="Demoted")
    tokens = {
        "secret changed": token_for(ports[0], rekeyed.client_id, rekeyed_secret),
        "deleted": token_for(ports[1], deleted.client_id, deleted_secret),
        "role demoted": token_for(ports[0], demoted.client_id, demoted_secret),
    }
    # A PATCH that changes nothing (and records nothing) needs the write scope: refused once demoted.
    unchanged = json.dumps(
        {"data": {"type": "api_credentials", "id": demoted.public_id, "attributes": {"name": "Demoted"}}}
    )
    polls = {
        "secret changed": {"method": "GET", "path": "/api/me"},
        "deleted": {"method": "GET", "path": "/api/me"},
        "role demoted": {"method": "PATCH", "path": f"/api/api_credentials/{demoted.public_id}", "body": unchanged},
    }
    pollers = {(kind, port): Poller(port=port, token=tokens[kind], **polls[kind]) for kind in tokens for port in ports}
    threads = [threading.Thread(target=poller.run, daemon=True) for poller in pollers.values()]
    for thread in threads:
        thread.start()
    try:
        wait_for(
            lambda: all(len(p.passed()) >= WARM_ANSWERS for p in pollers.values()),
            f"{WARM_ANSWERS} answers letting each token through on each process",
            deadline,
            processes,
        )
        read_only = integration_services.role_ensure_defaults(organization=organization)[1]
        changed = {}
        integration_services.api_credential_set_secret(credential_id=rekeyed.pk, changed_by=org_admin)
        changed["secret changed"] = time.monotonic()  # committed: the service's transaction is over
        integration_services.api_credential_delete(credential_id=deleted.pk, deleted_by=org_admin)
        changed["deleted"] = time.monotonic()
        integration_services.api_credential_update(credential_id=demoted.pk, updated_by=org_admin, role=read_only)
        changed["role demoted"] = time.monotonic()
        settled = max(changed.values()) + AFTER_SECONDS
        wait_for(lambda: time.monotonic() > settled, "the polls after the changes", deadline, processes)
    finally:
        for poller in pollers.values():
            poller.stop.set()
        for thread in threads:
            thread.join(timeout=15)

    figures: dict[str, object] = {"cache_seconds": CACHE_SECONDS}
    for (kind, port), poller in pollers.items():
        assert poller.error is None, f"{kind} on {port}: {poller.error!r}"
        after_change = [(sent, status) for sent, status in poller.answers if sent > changed[kind]]
        late = poller.passed(after=changed[kind] + CACHE_SECONDS)
        assert not late, f"{kind}: {len(late)} requests let through on port {port} more than {CACHE_SECONDS} s after"
        assert any(sent > changed[kind] + CACHE_SECONDS for sent, _ in after_change), f"{kind}: no late poll"
        refused = {status for _, status in after_change if status != 200}
        assert refused <= ({403} if kind == "role demoted" else {401}), refused
        passed_after = poller.passed(after=changed[kind])
        figures[f"{kind} / web{ports.index(port) + 1}: last pass after the change (s)"] = (
            round(max(passed_after) - changed[kind], 3) if passed_after else None
        )
        figures[f"{kind} / web{ports.index(port) + 1}: answers"] = len(poller.answers)
    report("token_revocation", figures)
