"""Re-encrypt every encrypted column under the newest key of PORTICO_ENCRYPTION_KEYS.

Safe to run while the portal serves: each row is rewritten with MultiFernet.rotate, which every
configured key can still read, and in batches so no long lock is held. Once it reports zero rows
left under old keys, the old key can be removed from the environment.
"""

from typing import Any, cast

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from credentials.lib import crypto
from credentials.lib.fields import encrypted_fields

BATCH = 500


class Command(BaseCommand):
    help = "Re-encrypt every encrypted secret under the newest PORTICO_ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be rotated.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        total = 0
        for model, field in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            # A concrete field (all encrypted_fields() returns, and every primary key) has a column.
            column = connection.ops.quote_name(cast(str, field.column))
            pk = connection.ops.quote_name(cast(str, model._meta.pk.column))
            last_pk = None
            rotated = 0
            while True:
                # Raw SQL: the field's from_db_value would decrypt, and rotation wants the token.
                with connection.cursor() as cursor:
                    where = f"{column} IS NOT NULL" + (f" AND {pk} > %s" if last_pk is not None else "")
                    cursor.execute(
                        f"SELECT {pk}, {column} FROM {table} WHERE {where} ORDER BY {pk} LIMIT {BATCH}",  # noqa: S608
                        [last_pk] if last_pk is not None else [],
                    )
                    rows = cursor.fetchall()
                if not rows:
                    break
                last_pk = rows[-1][0]
                stale = [(row_pk, token) for row_pk, token in rows if not crypto.encrypted_with_newest_key(token)]
                if not dry_run and stale:
                    with transaction.atomic(), connection.cursor() as cursor:
                        for row_pk, token in stale:
                            # Compare-and-set on the old token: a row changed meanwhile is already
                            # under the newest key and is left alone.
                            cursor.execute(
                                f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",  # noqa: S608
                                [crypto.rotate(token), row_pk, token],
                            )
                rotated += len(stale)
            if rotated:
                verb = "would rotate" if dry_run else "rotated"
                self.stdout.write(f"{model._meta.label}.{field.name}: {verb} {rotated}")
            total += rotated
        verb = "would be rotated" if dry_run else "rotated"
        self.stdout.write(self.style.SUCCESS(f"{total} secret(s) {verb} to the newest key."))
