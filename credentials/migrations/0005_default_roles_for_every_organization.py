"""Every organization has its default API roles from its creation on (credentials.apps); this gives
them to the organizations created before, so that no read has to create them any more."""

from django.db import migrations

DEFAULT_ROLES = (("Admin", "admin"), ("Read-only", "read_only"))


def give_default_roles(apps, schema_editor):
    Organization = apps.get_model("portal", "Organization")
    Role = apps.get_model("credentials", "Role")
    for organization in Organization.objects.all():
        for name, kind in DEFAULT_ROLES:
            if not Role.objects.filter(organization=organization, name=name).exists():
                Role.objects.create(organization=organization, name=name, kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0004_gateway_sync_index"),
        ("portal", "0003_outboundemail"),
    ]

    operations = [migrations.RunPython(give_default_roles, migrations.RunPython.noop)]
