"""Demo data of `make run` above the accounts: a submitted and an approved connection request
(S1, S2), three APIs with a key of `consumer` each (S3, S6), and the runtime target of the demo
nginx that serves them (credentials/gateway/demo.py). Idempotent."""

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from approvals import services
from credentials.connections import services as connection_services
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.connections.pasted import parse_tenant_credentials
from credentials.gateway import demo as demo_gateway
from credentials.keys import admin_services
from credentials.keys import services as key_services
from credentials.keys.models import Api, ApiKey, RuntimeTarget
from credentials.lib import crypto
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


def seed_api_keys(organization: Organization) -> list[tuple[Api, str]]:
    """Three APIs (renewal by approval, at once, never expiring) and a key of `consumer` for each.

    Returns each new key with its API, to print: a new demo key's value is shown once, like any key.
    """
    consumer = User.objects.get(username="consumer")
    approver = User.objects.get(username="approver")
    shown: list[tuple[Api, str]] = []
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
        if lifetime is not None and expires_in is not None:
            # Demo only: keys close to expiry, so renewal and the reminders show something at once.
            # Issued a lifetime before that expiry: the sweep reminds only keys valid for longer
            # than a threshold (a key renewed for 30 days gets no 30-day reminder).
            now = timezone.now()
            ApiKey.objects.filter(pk=key.pk).update(
                created_at=now - timedelta(days=lifetime - expires_in),
                expires_at=now + timedelta(days=expires_in),
                updated_at=now,
            )
        shown.append((api, secret.value))
    return shown


DEMO_TARGET_NAME = "Demo nginx (make run)"


def seed_runtime_target(*, gateway_port: int, token_dir: Path | None) -> RuntimeTarget:
    """The runtime target of the demo nginx, set on every demo API (the Admin Center's services,
    audited as `hub-admin`: moving an API to it deploys its keys there).

    Its verify token is stored only hashed, so when token_dir's token file, which nginx includes,
    is missing or holds another token, the target gets new credentials and the file the new token.
    Without token_dir no token is written, and none regenerated.
    """
    hub_admin = User.objects.get(username="hub-admin")
    base_url, health_url = demo_gateway.target_urls(gateway_port)
    target = RuntimeTarget.objects.filter(name=DEMO_TARGET_NAME).first()
    token = None
    if target is None:
        target, credentials = admin_services.runtime_target_create(
            name=DEMO_TARGET_NAME, base_url=base_url, health_url=health_url, created_by=hub_admin
        )
        token = credentials.verify_token
    else:
        target = admin_services.runtime_target_update(
            target_id=target.pk, name=DEMO_TARGET_NAME, base_url=base_url, health_url=health_url, updated_by=hub_admin
        )
        if token_dir is not None and not _holds_token_of(token_dir / demo_gateway.TOKEN_FILE_NAME, target):
            target, credentials = admin_services.runtime_target_regenerate_credentials(
                target_id=target.pk, regenerated_by=hub_admin
            )
            token = credentials.verify_token
    if token_dir is not None and token is not None:
        demo_gateway.write_token(token_dir / demo_gateway.TOKEN_FILE_NAME, token)
    slugs = [slug for slug, *_rest in DEMO_APIS]
    for api in Api.objects.filter(slug__in=slugs).exclude(runtime_target=target).order_by("pk"):
        settings = replace(admin_services.ApiSettings.of(api), runtime_target=target)
        admin_services.api_update(api_id=api.pk, settings=settings, updated_by=hub_admin)
    return target


def _holds_token_of(path: Path, target: RuntimeTarget) -> bool:
    token = demo_gateway.read_token(path)
    return (
        token is not None
        and token.startswith(f"{target.verify_token_prefix}_")
        and crypto.verify_secret(token, target.verify_token_digest)
    )
