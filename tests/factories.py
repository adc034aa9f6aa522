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
