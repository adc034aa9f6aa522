"""Send the key deployments whose retry is due, as the every-minute beat job does.

For an operator after an outage, or when beat is not running. Each due deployment is handed to
the worker (deploy_access_key), which claims it before sending, so running this beside beat
sends nothing twice. --dry-run lists what is due and sends nothing. --failed also queues again
what a gateway refused (each target's failed deployments), once the cause is fixed there.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credentials.keys import admin_services, deployment
from credentials.keys.models import KeyDeployment, RuntimeTarget


class Command(BaseCommand):
    help = "Send the pending key deployments whose retry is due (--dry-run: list them only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the due deployments; send nothing.")
        parser.add_argument("--failed", action="store_true", help="Also queue again what gateways refused.")

    def handle(self, *args: Any, dry_run: bool = False, failed: bool = False, **options: Any) -> None:
        if failed and not dry_run:
            refused = 0
            targets = RuntimeTarget.objects.filter(deployments__state=KeyDeployment.State.FAILED).distinct()
            for target in targets.order_by("pk"):
                refused += admin_services.runtime_target_retry_failed(target_id=target.pk, retried_by=None)
            self.stdout.write(self.style.SUCCESS(f"{refused} failed deployment(s) queued again."))
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
