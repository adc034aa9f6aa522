import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from approvals.demo import seed_api_keys, seed_connection_requests
from credentials.integration.demo import DEMO_CLIENT_SECRET, seed_api_credential
from portal import demo


class Command(BaseCommand):
    help = "Load the demo organization and users (idempotent). Refuses to run with DEBUG off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (never in production).")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("Demo data has well-known passwords: it is loaded only with DEBUG=true.")
        organization = demo.seed_accounts()
        # The apps add their demo data on top of the accounts.
        seed_connection_requests(organization)
        new_keys = seed_api_keys(organization)
        demo_client = seed_api_credential(organization)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready for organization '{organization.slug}'."))
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for each: {demo.DEMO_PASSWORD}):")
        for username, _first, _last, roles in demo.DEMO_USERS:
            self.stdout.write(f"  {username:<14} {' + '.join(str(r) for r in roles)}")
        self.stdout.write("")
        self.stdout.write(
            f"Demo connection API credentials of `{organization.slug}` (a well-known demo secret, like the passwords):"
        )
        self.stdout.write(
            "  "
            + json.dumps(
                {
                    "client_id": demo_client.client_id,
                    "client_secret": DEMO_CLIENT_SECRET,
                    "token_url": settings.SITE_URL + reverse("oauth-token"),
                }
            )
        )
        if new_keys:
            self.stdout.write("")
            self.stdout.write("Demo API keys of `consumer` (shown once, now; only their hashes are stored):")
            for line in new_keys:
                self.stdout.write(line)
