"""Fixtures of the Admin Center > APIs tests: a runtime target, the Payments API and a key of the consumer.

test_admin_targets.py and test_deployment.py bring their own `target` (and `api`): theirs differ."""

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.keys.models import Api, ApiKey, RuntimeTarget
from tests.factories import ApiKeyFactory


@pytest.fixture
def target(db):
    return RuntimeTarget.objects.create(
        name="mediator-eu",
        base_url="https://gw.example.com",
        signing_secret="not-used-here",
        verify_token_prefix="prt_gw_TEST0001",
        verify_token_digest="0" * 64,
    )


@pytest.fixture
def api(organization):
    return Api.objects.create(name="Payments", slug="payments", provider=organization, key_lifetime_days=90)


@pytest.fixture
def key(api, consumer):
    return ApiKeyFactory(
        consumer=consumer,
        api=api,
        prefix="prt_key_AbCd1234",
        status=ApiKey.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=40),
    )
