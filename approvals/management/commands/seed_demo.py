import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from approvals.demo import DEMO_APIS, seed_api_keys, seed_connection_requests, seed_runtime_target
from credentials.gateway import demo as demo_gateway
from credentials.integration.demo import DEMO_CLIENT_SECRET, seed_api_credential
from portal import demo


class Command(BaseCommand):
    help = "Load the demo organization and users (idempotent). Refuses to run with DEBUG off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (never in production).")
        parser.add_argument(
            "--gateway-dir",
            type=Path,
            help=(
                "Write the demo runtime target's verify token where the demo nginx reads it "
                f"(DIR/{demo_gateway.TOKEN_FILE_NAME}; make run: var/nginx), with new credentials "
                "when the file is missing or holds another token."
            ),
        )
        parser.add_argument(
            "--gateway-port", type=int, default=8080, help="The demo nginx's port on 127.0.0.1 (default 8080)."
        )

    def handle(
        self,
        *args: Any,
        force: bool = False,
        gateway_dir: Path | str | None = None,
        gateway_port: int = 8080,
        **options: Any,
    ) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("Demo data has well-known passwords: it is loaded only with DEBUG=true.")
        organization = demo.seed_accounts()
        # The apps add their demo data on top of the accounts.
        seed_connection_requests(organization)
        new_keys = seed_api_keys(organization)
        seed_runtime_target(gateway_port=gateway_port, token_dir=Path(gateway_dir) if gateway_dir else None)
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
            for api, key in new_keys:
                self.stdout.write(f"  {api.name:<22} {key}")
        if gateway_dir:
            self.write_gateway_lines(gateway_port, {api.slug: key for api, key in new_keys})

    def write_gateway_lines(self, gateway_port: int, new_keys: dict[str, str]) -> None:
        """How to try the demo gateway that make run serves, with the Weather key if it is new."""
        gateway = f"http://127.0.0.1:{gateway_port}"
        paths = ", ".join(f"/{slug}/" for slug, *_rest in DEMO_APIS)
        weather = new_keys.get("weather", "<the Weather API key, printed when it was made>")
        self.stdout.write("")
        self.stdout.write(f"The demo gateway (nginx) on {gateway}, in front of {paths}:")
        self.stdout.write(f'  curl -H "X-API-Key: {weather}" {gateway}/weather/   # 200, the demo API\'s answer')
        self.stdout.write(f"  curl {gateway}/weather/   # 401")
