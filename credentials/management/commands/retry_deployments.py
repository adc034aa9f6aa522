"""Send the key deployments whose retry is due, as the every-minute beat job does.

For an operator after an outage, or when beat is not running. Each due deployment is handed to
the worker (deploy_access_key), which claims it before sending, so running this beside beat
sends nothing twice. --dry-run lists what is due and sends nothing.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credentials.keys import deployment


class Command(BaseCommand):
    help = "Send the pending key deployments whose retry is due (--dry-run: list them only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the due deployments; send nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        if dry_run:
            count = 0
            for due in deployment.due_deployments().iterator(chunk_size=deployment.SWEEP_BATCH):
                count += 1
                error = f"; last error: {due.last_error}" if due.last_error else ""
                self.stdout.write(
                    f"{due.deployment_id}: key {due.api_key.prefix} to {due.target.name} "
                    f"({due.reason}; {due.attempts} attempt(s){error})"
                )
            self.stdout.write(self.style.SUCCESS(f"{count} deployment(s) due; dry run, nothing sent."))
            return
        count = deployment.retry_due_deployments()
        self.stdout.write(self.style.SUCCESS(f"{count} due deployment(s) handed to the worker."))
