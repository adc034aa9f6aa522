from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credentials.connections import health
from credentials.connections.models import ConnectionRequest


class Command(BaseCommand):
    help = "Fetch a token with each approved connection's credentials (the beat job check-connections)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the connections; call nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        for pk in health.approved_connection_ids():
            request = ConnectionRequest.objects.select_related("tenant").get(pk=pk)
            if dry_run:
                self.stdout.write(f"would check: {request.tenant.alias} ({request.token_url})")
                continue
            state = health.check_connection(pk)
            self.stdout.write(f"{request.tenant.alias}: {state}")
