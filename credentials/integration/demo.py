"""Demo connection API credentials for `make run`: one client of the demo organization whose
secret is well known, like the demo passwords, so the REST API can be tried at once. Idempotent."""

from credentials.integration import services
from credentials.integration.models import ApiCredential
from portal.models import Organization

DEMO_CREDENTIAL_NAME = "Demo integration (make run)"
DEMO_REFERENCE = "portico-demo"
# Demo data only: seed_demo refuses to run outside DEBUG. Meets the rules of typed secrets.
DEMO_CLIENT_SECRET = "portico-demo-client-secret-2f9Qx7Lm4Tz8"  # noqa: S105


def seed_api_credential(organization: Organization) -> ApiCredential:
    """The demo client (role Admin), made once; later runs find it by its reference."""
    existing = ApiCredential.objects.filter(organization=organization, reference=DEMO_REFERENCE).first()
    if existing is not None:
        return existing
    credential, _secret = services.api_credential_create(
        organization=organization,
        name=DEMO_CREDENTIAL_NAME,
        client_secret=DEMO_CLIENT_SECRET,
        reference=DEMO_REFERENCE,
        reference_origin="seed_demo",
    )
    return credential
