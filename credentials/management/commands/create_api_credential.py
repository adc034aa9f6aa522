"""Create connection API credentials from the command line, for operators and scripts.

Prints one JSON object with the client ID and secret (shown this once; only a keyed hash is kept):

    python manage.py create_api_credential --organization acme --name "CI provisioning" --role Read-only

The same rules as the Connection API Credentials page apply: at most three per account, a typed
secret (--client-secret-stdin) must meet the rules of custom secrets. Exit status 1 with the
reason on stderr otherwise.
"""

import json
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.urls import reverse

from credentials.integration import services
from credentials.integration.models import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, Role
from portal.models import Organization


def _find_role(organization: Organization, wanted: str) -> Role:
    roles = services.role_ensure_defaults(organization=organization)
    normalized = wanted.strip().lower().replace("-", "_").replace(" ", "_")
    match = Role.objects.filter(organization=organization).filter(
        Q(name__iexact=wanted.strip()) | Q(public_id=wanted.strip())
    ).first() or next((role for role in roles if role.kind == normalized), None)
    if match is None:
        names = ", ".join(Role.objects.filter(organization=organization).values_list("name", flat=True))
        raise CommandError(f"{organization.slug} has no role {wanted!r}. Its roles: {names}.")
    return match


class Command(BaseCommand):
    help = "Create connection API credentials for an organization and print their client ID and secret as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="The organization's slug (its account ID).")
        parser.add_argument("--name", default="", help="The Short Description: what the credentials are for.")
        parser.add_argument(
            "--role",
            default="Admin",
            help="A role of the organization by name or id, or a kind: admin, read_only (default: Admin).",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            default=None,
            help=f"Access token lifetime in seconds, {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME} (default 7200).",
        )
        parser.add_argument(
            "--client-secret-stdin",
            action="store_true",
            help="Read a typed client secret from the first line of standard input instead of generating one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization with the slug {options['organization']!r}.")
        role = _find_role(organization, options["role"])
        typed = sys.stdin.readline().rstrip("\r\n") if options["client_secret_stdin"] else None
        extra = {} if options["expires_in"] is None else {"expires_in": options["expires_in"]}
        try:
            credential, secret = services.api_credential_create(
                organization=organization, name=options["name"], role=role, client_secret=typed, **extra
            )
        except services.ApiCredentialLimitReached as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
            raise CommandError(problems) from exc
        self.stdout.write(
            json.dumps(
                {
                    "id": credential.public_id,
                    "organization": organization.slug,
                    "name": credential.name,
                    "role": role.name,
                    "client_id": credential.client_id,
                    "client_secret": secret.value,
                    "expires_in": credential.expires_in,
                    "token_url": settings.SITE_URL + reverse("oauth-token"),
                }
            )
        )
