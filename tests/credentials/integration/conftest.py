"""Fixtures of the connection API credentials and OAuth tests."""

import pytest

from credentials.integration import credential_facts
from tests.factories import make_api_credential


@pytest.fixture(autouse=True)
def _fresh_credential_facts():
    """Every test starts with no credential facts in this process (they live a second at most)."""
    credential_facts.reset()
    yield
    credential_facts.reset()


@pytest.fixture
def credential(organization):
    """Connection API credentials of the organization with its Admin role: (credential, client secret)."""
    return make_api_credential(organization, name="Billing sync")
