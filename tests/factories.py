import json
from datetime import timedelta

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from credentials.lib import validity
from portal.models import Organization, User
from portal.roles import Role

TEST_PASSWORD = "correct-horse-battery"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    organization = factory.SubFactory(OrganizationFactory)
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: tuple[Role, ...] | None, **kwargs: object) -> None:
        if create:
            self.save()
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=[str(r) for r in extracted]))


def client_secret_json(
    token_url: str, *, client_id: str = "sb-apiaccess!b1|api-portal-xsuaa!b2", secret: str = "s3cr3t-VALUE-123="
) -> str:
    return json.dumps(
        {"url": "http://localhost/app", "tokenUrl": token_url, "clientId": client_id, "clientSecret": secret}
    )


class ApiFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "credentials.Api"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"API {n}")
    slug = factory.Sequence(lambda n: f"api-{n}")
    provider = factory.SubFactory(OrganizationFactory)
    key_lifetime_days = 90
    renewal_requires_approval = False

    @factory.post_generation
    def approver_users(self, create: bool, extracted: list | None, **kwargs: object) -> None:
        if create and extracted:
            self.approvers.set(extracted)


TARGET_SIGNING_SECRET = "test-signing-secret-Zm9vYmFyYmF6cXV4LTAxMjM0NTY3ODk"


class RuntimeTargetFactory(factory.django.DjangoModelFactory):
    """A gateway. It signs with TARGET_SIGNING_SECRET unless told otherwise; its verify token is
    generated as the service would (prt_gw_...), and the new instance keeps the value in
    `.verify_token` (None when the test passed its own prefix and digest)."""

    class Meta:
        model = "credentials.RuntimeTarget"

    name = factory.Sequence(lambda n: f"Gateway {n}")
    base_url = factory.Sequence(lambda n: f"https://gateway-{n}.example.com")
    health_url = ""
    signing_secret = TARGET_SIGNING_SECRET

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from credentials.lib import crypto

        token = crypto.generate_secret("gw")
        generated = "verify_token_prefix" not in kwargs
        kwargs.setdefault("verify_token_prefix", token.prefix)
        kwargs.setdefault("verify_token_digest", token.digest)
        target = super()._create(model_class, *args, **kwargs)
        target.verify_token = token.value if generated else None
        return target


def make_api_credential(organization, *, name: str = "", client_secret: str | None = None, role=None, **fields):
    """Connection API credentials made as the page makes them; returns (credential, secret value)."""
    from credentials.integration import services as integration_services

    credential, secret = integration_services.api_credential_create(
        organization=organization, name=name, client_secret=client_secret, role=role, **fields
    )
    return credential, secret.value


class TenantFactory(factory.django.DjangoModelFactory):
    """An API Management tenant of an organization, registered by a user of that organization."""

    class Meta:
        model = "credentials.Tenant"

    organization = factory.SubFactory(OrganizationFactory)
    alias = factory.Sequence(lambda n: f"tenant-{n}")
    url = factory.LazyAttribute(lambda t: f"https://{t.alias}.example.com")
    registered_by = factory.SubFactory(UserFactory, organization=factory.SelfAttribute("..organization"))


def pasted_credentials(token_url: str = "https://acme.authentication.example.com/oauth/token", **kwargs: str):
    """Client-secret tenant credentials as a tenant admin pastes them (see client_secret_json)."""
    from credentials.connections.pasted import parse_tenant_credentials

    return parse_tenant_credentials(client_secret_json(token_url, **kwargs))


class ConnectionRequestFactory(factory.django.DjangoModelFactory):
    """A submitted connection request of a tenant, stored as a submission stores it: `pasted` (the
    TenantCredentials; client-secret credentials unless given) encrypted in `credentials`, its
    non-secret facts in clear, and an expiry by the validity rules from `generated_at`. No
    approval is opened: for the whole submission, use connection_request_submit."""

    class Meta:
        model = "credentials.ConnectionRequest"

    class Params:
        pasted = factory.LazyFunction(pasted_credentials)

    tenant = factory.SubFactory(TenantFactory)
    credential_kind = factory.LazyAttribute(lambda r: r.pasted.kind)
    credentials = factory.LazyAttribute(lambda r: r.pasted.to_storage())
    api_url = factory.LazyAttribute(lambda r: r.pasted.url)
    token_url = factory.LazyAttribute(lambda r: r.pasted.token_url)
    cert_url = factory.LazyAttribute(lambda r: r.pasted.cert_url)
    client_id = factory.LazyAttribute(lambda r: r.pasted.client_id)
    certificate_subject = factory.LazyAttribute(lambda r: r.pasted.certificate_subject)
    certificate_not_after = factory.LazyAttribute(lambda r: r.pasted.certificate_not_after)
    generated_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(
        lambda r: validity.credential_expiry(r.generated_at, r.pasted.certificate_not_after)
    )
    credentials_updated_at = factory.LazyFunction(timezone.now)
    submitted_by = factory.SelfAttribute("tenant.registered_by")


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An active API key of a consumer for an API, expiring after the API's key lifetime. Only the
    key's row, without a secret or a deployment: for a key that verifies, issue it
    (credentials.keys.services.api_key_issue)."""

    class Meta:
        model = "credentials.ApiKey"

    consumer = factory.SubFactory(UserFactory, roles=(Role.CONSUMER,))
    api = factory.SubFactory(ApiFactory)
    prefix = factory.Sequence(lambda n: f"prt_key_{n:08d}")
    status = "active"
    expires_at = factory.LazyAttribute(
        lambda k: timezone.now() + timedelta(days=k.api.key_lifetime_days) if k.api.key_lifetime_days else None
    )


def _generated_client_secret():
    from credentials.lib import crypto

    return crypto.generate_secret("cs")


def _admin_role(organization):
    from credentials.integration.models import Role as ApiRole

    role, _ = ApiRole.objects.get_or_create(
        organization=organization, name="Admin", defaults={"kind": ApiRole.Kind.ADMIN}
    )
    return role


class ApiCredentialFactory(factory.django.DjangoModelFactory):
    """Connection API credentials of an organization, with its Admin role (or the `role` given) and
    a generated secret stored as the service stores it (prefix and keyed hash); the instance keeps
    the secret's value in `.client_secret`. Neither audited nor held to the three-per-account
    limit: for credentials made as the page makes them, use make_api_credential."""

    class Meta:
        model = "credentials.ApiCredential"

    class Params:
        secret = factory.LazyFunction(_generated_client_secret)

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    role = factory.LazyAttribute(lambda c: _admin_role(c.organization))
    scopes = factory.LazyAttribute(lambda c: c.role.scopes)
    secret_prefix = factory.LazyAttribute(lambda c: c.secret.prefix)
    secret_digest = factory.LazyAttribute(lambda c: c.secret.digest)
    client_secret = factory.LazyAttribute(lambda c: c.secret.value)  # not a field: kept on the instance

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        client_secret = kwargs.pop("client_secret")
        credential = super()._build(model_class, *args, **kwargs)
        credential.client_secret = client_secret
        return credential

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        client_secret = kwargs.pop("client_secret")
        credential = super()._create(model_class, *args, **kwargs)
        credential.client_secret = client_secret
        return credential
