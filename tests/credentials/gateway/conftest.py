"""Fixtures of the /gateway/verify tests: a gateway (a runtime target and its verify token), the API it
enforces, a key issued at NOW, and `ask`, which posts a key to /gateway/verify as the gateway."""

import pytest

from credentials.gateway import services as gateway
from credentials.keys import services as key_services
from credentials.keys.models import Api
from tests.credentials.gateway.helpers import NOW, URL, make_gateway


@pytest.fixture(autouse=True)
def fresh_gateway_state():
    gateway.reset_state()
    yield
    gateway.reset_state()


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    gateway.reset_state()  # the buffer's last flush, taken on the real clock, would be in the future
    return time_machine


@pytest.fixture
def mediator(db):
    return make_gateway("mediator")


@pytest.fixture
def other_gateway(db):
    return make_gateway("other-mediator")


@pytest.fixture
def api(organization, mediator):
    return Api.objects.create(
        name="Weather", slug="weather", provider=organization, key_lifetime_days=30, runtime_target=mediator.target
    )


@pytest.fixture
def issued(frozen, api, consumer):
    return key_services.api_key_issue(api=api, consumer=consumer)


@pytest.fixture
def key(issued):
    return issued[0]


@pytest.fixture
def secret(issued):
    return issued[1].value


@pytest.fixture
def ask(client, mediator):
    def ask(key: str, api: str = "weather", token: str | None = None, **kwargs):
        return client.post(
            URL,
            {"key": key, "api": api},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token or mediator.token}"},
            **kwargs,
        )

    return ask
