# The Approvals inbox's "Recently decided by you" (issue 12): approvals newest first, so the read
# stops after its 20 rows. The model's Meta says the query it serves.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0002_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="approvalrequest", index=models.Index(fields=["created_at", "id"], name="approval_created")
        ),
    ]
