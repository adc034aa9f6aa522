"""Demo connection requests for `make run`: a submitted one and an approved one, so S1 and S2
can be walked at once. Idempotent."""

from datetime import timedelta

from django.utils import timezone

from approvals import services
from credentials.models import ConnectionRequest, Tenant
from credentials.tenant_credentials import parse_tenant_credentials
from portal.models import Organization, User

DEMO_TENANTS = [
    # (alias, url, days since the credentials were generated, approve?)
    ("acme-dev", "https://acme-dev.apimanagement.eu10.hana.ondemand.com", 20, False),
    ("acme-prod", "https://acme-prod.apimanagement.eu10.hana.ondemand.com", 340, True),
]


def _demo_credentials(alias: str) -> str:
    return (
        "{"
        f'"url": "https://{alias}.cfapps.eu10.hana.ondemand.com", '
        f'"tokenUrl": "https://{alias}.authentication.eu10.hana.ondemand.com/oauth/token", '
        f'"clientId": "sb-apiaccess-{alias}!b1234|api-portal-xsuaa!b1120", '
        '"clientSecret": "demo-secret-not-real="'
        "}"
    )


def seed_connection_requests(organization: Organization) -> None:
    tenant_admin = User.objects.get(username="tenant-admin")
    hub_admin = User.objects.get(username="hub-admin")
    for alias, url, age_days, approve in DEMO_TENANTS:
        tenant, _ = Tenant.objects.get_or_create(
            organization=organization, alias=alias, defaults={"url": url, "registered_by": tenant_admin}
        )
        if ConnectionRequest.objects.filter(tenant=tenant).exists():
            continue
        request = services.connection_request_submit(
            tenant=tenant,
            credentials=parse_tenant_credentials(_demo_credentials(alias)),
            generated_at=timezone.now() - timedelta(days=age_days),
            submitted_by=tenant_admin,
            check=None,
        )
        if approve:
            services.connection_request_decide(connection_request_id=request.pk, approver=hub_admin, verdict="approve")
