# The indexes of the three list pages (issue 12): each page's first rows are one index read, in
# every sort, instead of a sort of all the rows. The models' Meta says the query each one serves.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0005_default_roles_for_every_organization"),
    ]

    operations = [
        # Replaced by api_key_consumer_api, which serves the same reads (a consumer's keys) and
        # the probe of My API Keys' walk over the APIs by name.
        migrations.RemoveIndex(model_name="apikey", name="api_key_consumer_status"),
        # My API Keys (and the API catalog, Admin Center > APIs): APIs by name.
        migrations.AddIndex(model_name="api", index=models.Index(fields=["name", "id"], name="api_name")),
        # My API Keys: a consumer's keys, and their keys of one API.
        migrations.AddIndex(
            model_name="apikey", index=models.Index(fields=["consumer", "api"], name="api_key_consumer_api")
        ),
        # Approved Requests sorted by connection health.
        migrations.AddIndex(
            model_name="connectionrequest",
            index=models.Index(fields=["status", "health", "id"], name="connreq_status_health"),
        ),
        # Approved Requests sorted by API portal alias.
        migrations.AddIndex(model_name="tenant", index=models.Index(fields=["alias", "id"], name="tenant_alias")),
    ]
