from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credentials.keys import expire
from credentials.keys.models import ApiKey


class Command(BaseCommand):
    help = "Mark active keys past their expiry as expired (the beat job expire-keys, by hand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would expire; change nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        if dry_run:
            for pk in expire.expired_key_ids():
                key = ApiKey.objects.select_related("api").get(pk=pk)
                self.stdout.write(
                    f"would expire: {key.api.name} key {key.prefix} (expired {key.expires_at:%Y-%m-%d %H:%M})"
                )
            return
        count = expire.expire_due_keys()
        self.stdout.write(self.style.SUCCESS(f"{count} key(s) expired."))
