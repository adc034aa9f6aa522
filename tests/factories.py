import json

import factory
from django.contrib.auth.models import Group

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
        from credentials import crypto

        token = crypto.generate_secret("gw")
        generated = "verify_token_prefix" not in kwargs
        kwargs.setdefault("verify_token_prefix", token.prefix)
        kwargs.setdefault("verify_token_digest", token.digest)
        target = super()._create(model_class, *args, **kwargs)
        target.verify_token = token.value if generated else None
        return target


def make_api_credential(organization, *, name: str = "", client_secret: str | None = None, role=None, **fields):
    """Connection API credentials made as the page makes them; returns (credential, secret value)."""
    from credentials import services

    credential, secret = services.api_credential_create(
        organization=organization, name=name, client_secret=client_secret, role=role, **fields
    )
    return credential, secret.value
