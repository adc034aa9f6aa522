from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # Credentials asks for approvals through its port; this app is what answers.
        from approvals.services import ApprovalsPort
        from credentials.lib import approval_port

        approval_port.register(ApprovalsPort())
