"""The client's address behind N trusted proxies (PORTICO_TRUSTED_PROXY_COUNT): the entry N hops
from the right of X-Forwarded-For, never one the client wrote itself; the address the audit log,
the token endpoint's limiter and the login throttle all use."""

import pytest
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from portal import audit
from portal.audit import AuditContextMiddleware, client_ip
from portal.models import AuditEvent


def address(rf: RequestFactory, *, remote: str = "10.0.0.2", forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(rf.get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_header_is_ignored(rf, settings):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 0

    assert address(rf, forwarded="203.0.113.50") == "10.0.0.2"


def test_behind_one_proxy_the_address_is_the_last_entry_not_the_first(rf, settings):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 1

    # The client sent "X-Forwarded-For: 198.51.100.1"; our nginx appended the address it saw.
    assert address(rf, forwarded="198.51.100.1, 203.0.113.50") == "203.0.113.50"


def test_behind_two_proxies_the_address_is_the_second_entry_from_the_right(rf, settings):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 2

    assert address(rf, forwarded="198.51.100.1, 203.0.113.50, 10.0.0.7") == "203.0.113.50"


@pytest.mark.parametrize("forwarded", ["", "203.0.113.50"])
def test_a_request_that_did_not_pass_every_proxy_falls_back_to_the_peer(rf, settings, forwarded):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 2

    assert address(rf, forwarded=forwarded) == "10.0.0.2"


@pytest.mark.parametrize("forwarded", ["198.51.100.1, not-an-address", "198.51.100.1, ", "unknown"])
def test_an_invalid_entry_falls_back_to_the_peer(rf, settings, forwarded):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 1

    assert address(rf, forwarded=forwarded) == "10.0.0.2"


def test_an_ipv6_entry_is_normalised(rf, settings):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 1

    assert address(rf, forwarded="2001:DB8:0:0::1") == "2001:db8::1"


def test_the_audit_log_records_the_address_the_proxy_saw_not_the_one_the_client_wrote(rf, consumer, settings):
    settings.PORTICO_TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.50")
    request.user = consumer

    def view(request: HttpRequest) -> HttpResponse:
        with transaction.atomic():
            audit.record(action="test.view")
        return HttpResponse("ok")

    AuditContextMiddleware(view)(request)

    assert AuditEvent.objects.get(action="test.view").ip_address == "203.0.113.50"
