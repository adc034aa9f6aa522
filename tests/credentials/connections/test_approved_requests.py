"""S2: Admin Center > API Management Connections > Approved Requests and Re-establish Connection."""

import html
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from credentials.connections.models import ConnectionRequest
from portal.models import AuditEvent
from tests.factories import ConnectionRequestFactory, OrganizationFactory, TenantFactory, client_secret_json

APPROVED = "/admin-center/connections/approved/"


def make_approved(count: int, *, decided_by, submitted_by, credentials) -> list[ConnectionRequest]:
    now = timezone.now()
    rows = []
    for i in range(count):
        tenant = TenantFactory(
            organization=OrganizationFactory(),
            alias=f"tenant-{i:04d}",
            url=f"https://t{i}.example.com",
            registered_by=submitted_by,
        )
        rows.append(
            ConnectionRequestFactory.build(
                tenant=tenant,
                status=ConnectionRequest.Status.APPROVED,
                pasted=credentials,
                client_id=f"client-{i:04d}",
                generated_at=now - timedelta(days=i % 400),
                expires_at=now + timedelta(days=365 - i % 400),
                credentials_updated_at=now,
                submitted_by=submitted_by,
                decided_by=decided_by,
                decided_at=now - timedelta(minutes=i),
            )
        )
    return ConnectionRequest.objects.bulk_create(rows)


@pytest.fixture
def approved(hub_admin, tenant_admin, good_credentials):
    return make_approved(3, decided_by=hub_admin, submitted_by=tenant_admin, credentials=good_credentials)


def test_approved_requests_show_tenant_approver_dates_expiry_and_health(client, hub_admin, approved):
    client.force_login(hub_admin)
    page = client.get(APPROVED).content.decode()
    for label in ("Approved Requests", "Approver", "Approval date", "Credentials expire", "Connection health"):
        assert label in page
    assert "tenant-0000" in page
    assert "Re-establish Connection" in page
    assert hub_admin.get_full_name() in page
    assert "s3cr3t" not in page


def test_expiry_under_30_days_is_highlighted(client, hub_admin, approved):
    row = approved[0]
    row.expires_at = timezone.now() + timedelta(days=12)
    row.save()
    client.force_login(hub_admin)
    page = client.get(APPROVED).content.decode()
    assert "badge--warn" in page and "12 days left" in page


@pytest.mark.parametrize("rows", [10, 500])
def test_the_page_costs_the_same_queries_at_10_and_500_rows(
    client, hub_admin, tenant_admin, good_credentials, rows, django_assert_max_num_queries
):
    make_approved(rows, decided_by=hub_admin, submitted_by=tenant_admin, credentials=good_credentials)
    client.force_login(hub_admin)
    # session, user, groups/permissions checks, count, page: a fixed number whatever the rows.
    with django_assert_max_num_queries(8):
        response = client.get(APPROVED + "?sort=expires")
    assert response.status_code == 200


def test_search_filters_and_htmx_returns_only_the_results(client, hub_admin, approved):
    client.force_login(hub_admin)
    response = client.get(APPROVED + "?q=tenant-0001", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page
    assert 'id="approved-results"' in page
    assert "tenant-0001" in page and "tenant-0002" not in page


def test_sorting_by_expiry_orders_rows(client, hub_admin, approved):
    client.force_login(hub_admin)
    page = client.get(APPROVED + "?sort=-expires").content.decode()
    # tenant-0000 expires last (365 days), so it comes first when sorted descending.
    assert page.index("tenant-0000") < page.index("tenant-0002")
    page = client.get(APPROVED + "?sort=expires").content.decode()
    assert page.index("tenant-0002") < page.index("tenant-0000")


def test_pagination_at_25_rows(client, hub_admin, tenant_admin, good_credentials):
    make_approved(30, decided_by=hub_admin, submitted_by=tenant_admin, credentials=good_credentials)
    client.force_login(hub_admin)
    page = client.get(APPROVED).content.decode()
    assert "Page 1 of 2" in page
    assert "30 approved connections" in page


@pytest.mark.parametrize("role", ["consumer", "tenant_admin", "org_admin", "approver"])
def test_only_hub_admins_see_approved_requests(client, request, role, approved):
    client.force_login(request.getfixturevalue(role))
    assert client.get(APPROVED).status_code == 403
    assert client.get(f"/admin-center/connections/{approved[0].pk}/reestablish/").status_code == 403


def test_reestablish_page_has_the_credentials_box(client, hub_admin, approved):
    client.force_login(hub_admin)
    page = client.get(f"/admin-center/connections/{approved[0].pk}/reestablish/").content.decode()
    assert "Re-establish Connection" in page
    assert "API Portal Access Credentials" in page
    assert ">Submit<" in page


def test_reestablishing_stores_new_credentials_and_restarts_validity(client, hub_admin, approved, token_endpoint):
    target = approved[0]
    client.force_login(hub_admin)
    response = client.post(
        f"/admin-center/connections/{target.pk}/reestablish/",
        {"credentials": client_secret_json(token_endpoint, client_id="sb-fresh", secret="fr3sh-secret=")},
        follow=True,
    )
    page = html.unescape(response.content.decode())
    assert "You've updated the SAP Integration Suite API Management tenant access credentials successfully." in page
    assert "fr3sh-secret=" not in page
    target.refresh_from_db()
    assert target.client_id == "sb-fresh"
    assert target.status == ConnectionRequest.Status.APPROVED
    assert target.health == ConnectionRequest.Health.HEALTHY
    assert 364 <= target.days_left() <= 365
    assert AuditEvent.objects.filter(action="connection_request.reestablish", target_id=str(target.pk)).count() == 1


def test_credentials_generated_before_february_2024_keep_65_days(client, hub_admin, approved, token_endpoint):
    target = approved[0]
    client.force_login(hub_admin)
    client.post(
        f"/admin-center/connections/{target.pk}/reestablish/",
        {"credentials": client_secret_json(token_endpoint), "generated_on": "2024-01-15"},
    )
    target.refresh_from_db()
    assert target.generated_at == datetime(2024, 1, 15, tzinfo=UTC)
    assert target.expires_at == datetime(2024, 1, 15, tzinfo=UTC) + timedelta(days=65)


def test_a_future_generation_date_is_refused(client, hub_admin, approved, token_endpoint):
    client.force_login(hub_admin)
    tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
    response = client.post(
        f"/admin-center/connections/{approved[0].pk}/reestablish/",
        {"credentials": client_secret_json(token_endpoint), "generated_on": tomorrow},
    )
    assert "cannot be in the future" in response.content.decode()


def test_reestablish_with_a_bad_paste_changes_nothing(client, hub_admin, approved):
    target = approved[0]
    client.force_login(hub_admin)
    response = client.post(f"/admin-center/connections/{target.pk}/reestablish/", {"credentials": "{not json"})
    assert "not valid JSON" in response.content.decode()
    target.refresh_from_db()
    assert target.client_id == "client-0000"


def test_a_submitted_request_cannot_be_reestablished(client, hub_admin, tenant, tenant_admin, good_credentials):
    from credentials.connections.services import connection_request_submit

    submitted = connection_request_submit(
        tenant=tenant,
        credentials=good_credentials,
        generated_at=tenant.created_at,
        submitted_by=tenant_admin,
        skip_test=True,
    )
    client.force_login(hub_admin)
    assert client.get(f"/admin-center/connections/{submitted.pk}/reestablish/").status_code == 404


def test_reestablishing_with_certificate_credentials_uses_the_certificate_expiry(client, hub_admin, approved):
    import json

    from tests.credentials.connections.certs import make_ca, make_cert

    ca = make_ca()
    not_after = (timezone.now() + timedelta(days=100)).replace(microsecond=0)
    pair = make_cert(ca, "sb-acme-cert", usage="client", not_after=not_after)
    paste = json.dumps(
        {
            "url": "https://acme.cfapps.example.com",
            "tokenurl": "https://acme.authentication.example.com/oauth/token",
            "certurl": "https://acme.authentication.cert.example.com",
            "certificate": pair.cert_pem,
            "key": pair.key_pem,
        }
    )
    target = approved[0]
    client.force_login(hub_admin)
    response = client.post(
        f"/admin-center/connections/{target.pk}/reestablish/", {"credentials": paste, "skip_test": "on"}, follow=True
    )
    page = html.unescape(response.content.decode())
    assert "You've updated the SAP Integration Suite API Management tenant access credentials successfully." in page
    assert "PRIVATE KEY" not in page
    target.refresh_from_db()
    assert target.credential_kind == ConnectionRequest.CredentialKind.CERTIFICATE
    assert "sb-acme-cert" in target.certificate_subject
    assert target.expires_at == not_after
    assert "Certificate" in page and "sb-acme-cert" in page
    event = AuditEvent.objects.get(action="connection_request.reestablish")
    assert "WITHOUT a credential test" in event.summary
    assert "PRIVATE KEY" not in event.summary
