"""On PostgreSQL, the plain GET /api/api_credentials/<id> (jsonapi/credential_read.py: SQL the ORM
built once, read with a plain cursor) answers exactly what the DRF view answers: psycopg hands back
types SQLite's driver does not (aware datetimes, JSON as text, booleans)."""

import pytest
from django.db import connection
from django.utils import timezone

from credentials.integration import credential_facts
from credentials.integration.jsonapi import credential_read
from tests.credentials.integration.test_oauth_token import issue
from tests.factories import make_api_credential

JSONAPI = "application/vnd.api+json"


@pytest.fixture(autouse=True)
def _fresh_credential_facts():
    credential_facts.reset()
    yield
    credential_facts.reset()


def test_the_plain_read_answers_exactly_what_the_drf_view_answers_on_postgresql(
    client, organization, monkeypatch, time_machine, django_assert_num_queries
):
    time_machine.move_to(timezone.now(), tick=False)
    reader = make_api_credential(organization, name="Reader")
    token = issue(client, reader)["access_token"]
    credential, _ = make_api_credential(
        organization,
        name="Zürich sync ☃",
        redirect_uri="https://app.example.com/callback",
        reference="ERP-42",
        metadata={"nested": [1, {"b": None, "ok": True}], "line": "\u2028", "ü": 1.5},
        mode="test",
        expires_in=600,
    )
    url = f"/api/api_credentials/{credential.public_id}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": JSONAPI}

    with django_assert_num_queries(1):
        plain = client.get(url, **headers)
    monkeypatch.setattr(credential_read, "answer", lambda request, public_id: None)
    through_drf = client.get(url, **headers)

    assert plain.status_code == through_drf.status_code == 200
    assert plain.content == through_drf.content
    assert dict(plain.headers) == dict(through_drf.headers)


def test_the_hot_reads_are_planned_once_per_connection_not_on_every_request(client, organization):
    # credentials/lib/hot_reads.py: prepared statements, so PostgreSQL plans each read once (the
    # planning of the plain read's joins cost five times its execution).
    token = issue(client, make_api_credential(organization, name="Reader"))["access_token"]
    credential, _ = make_api_credential(organization, name="Read me")
    url = f"/api/api_credentials/{credential.public_id}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": JSONAPI}

    for _ in range(4):
        assert client.get(url, **headers).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%credentials_apicredential%%public_id%%'"
        )
        prepared = cursor.fetchall()
    assert len(prepared) == 1, prepared
    statement, runs = prepared[0]
    assert '"credentials_role"."public_id"' in statement  # the plain read's query
    assert runs >= 3  # every read after the first ran the prepared statement
