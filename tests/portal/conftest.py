"""Fixtures of the portal tests."""

import pytest
from django.db import transaction

from portal.audit import record


@pytest.fixture
def event(hub_admin, organization):
    """An audit event, recorded as the services record them: in a transaction, by the hub admin."""
    with transaction.atomic():
        return record(action="organization.renamed", target=organization, summary="Renamed to Acme", actor=hub_admin)
