"""Fixtures of the connection API credentials and OAuth tests."""

import pytest

from tests.factories import make_api_credential


@pytest.fixture
def credential(organization):
    """Connection API credentials of the organization with its Admin role: (credential, client secret)."""
    return make_api_credential(organization, name="Billing sync")
