"""Demo connection requests for `make run`: a submitted one and an approved one, so S1 and S2
can be walked at once. Idempotent."""

from datetime import timedelta

from django.utils import timezone

from approvals import services
from credentials.connections import services as connection_services
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.connections.pasted import parse_tenant_credentials
from credentials.keys import services as key_services
from credentials.keys.models import Api, ApiKey
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
        request = connection_services.connection_request_submit(
            tenant=tenant,
            credentials=parse_tenant_credentials(_demo_credentials(alias)),
            generated_at=timezone.now() - timedelta(days=age_days),
            submitted_by=tenant_admin,
            skip_test=True,
        )
        if approve:
            services.connection_request_decide(connection_request_id=request.pk, approver=hub_admin, verdict="approve")


DEMO_APIS = [
    # (slug, name, description, lifetime days, needs approval, demo key expires in days)
    ("payments", "Payments API", "Charge cards and refund payments.", 30, True, 5),
    ("weather", "Weather API", "Forecasts and observations by location.", 90, False, 20),
    ("catalog", "Product Catalog API", "Read the public product catalog.", None, False, None),
]


def seed_api_keys(organization: Organization) -> list[str]:
    """Three APIs (renewal by approval, at once, never expiring) and a key of `consumer` for each.

    Returns lines to print: a new demo key's value is shown once, like any key.
    """
    consumer = User.objects.get(username="consumer")
    approver = User.objects.get(username="approver")
    shown = []
    for slug, name, description, lifetime, needs_approval, expires_in in DEMO_APIS:
        api, created = Api.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "provider": organization,
                "key_lifetime_days": lifetime,
                "renewal_requires_approval": needs_approval,
            },
        )
        if created and needs_approval:
            api.approvers.set([approver])
        if ApiKey.objects.filter(consumer=consumer, api=api).exists():
            continue
        key, secret, approval = key_services.api_key_request(api=api, consumer=consumer)
        if approval is not None:
            services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")
        if expires_in is not None:
            # Demo only: keys close to expiry, so renewal and the reminders show something at once.
            ApiKey.objects.filter(pk=key.pk).update(
                expires_at=timezone.now() + timedelta(days=expires_in, hours=1), updated_at=timezone.now()
            )
        shown.append(f"  {name:<22} {secret.value}")
    return shown
