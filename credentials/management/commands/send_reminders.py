from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credentials.expiry import reminders


class Command(BaseCommand):
    help = "Send the renewal reminders that are due (the beat job send-expiry-reminders, by hand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would be sent; send nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        if dry_run:
            for source in (reminders.due_key_reminders(), reminders.due_connection_reminders()):
                for due in source:
                    self.stdout.write(
                        f"would remind: {due.subject_type} #{due.subject_id} expiring "
                        f"{due.expires_at:%Y-%m-%d %H:%M} ({due.threshold}-day reminder)"
                    )
            return
        count = reminders.send_due_reminders()
        self.stdout.write(self.style.SUCCESS(f"{count} reminder(s) written to the outbox."))
