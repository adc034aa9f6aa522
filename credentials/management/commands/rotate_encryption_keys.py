"""Re-encrypt every encrypted column under the newest key of PORTICO_ENCRYPTION_KEYS.

Safe to run while the portal serves: rows are read and rewritten in batches, each batch in one
statement and its own short transaction, so no long lock is held; and each row is written only if
it still holds the ciphertext that was read (compare-and-set), so a secret the portal changed
meanwhile is left alone. Once it reports zero rows left under old keys, the old key can be removed
from the environment.
"""

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from credentials.lib.hot_reads import server_bound_cursor
from portal import encryption
from portal.fields import EncryptedTextField, encrypted_fields

# Rows read and written at a time: one SELECT and one UPDATE each. Its UPDATE locks its rows for
# about a tenth of a second. Two batches are in memory at once (one written, the next re-encrypted):
# some 50 MB if every row held a certificate and key (about 6 KB of ciphertext, old and new).
BATCH = 2_000

Rows = list[tuple[Any, str]]  # (primary key, token) of a batch's rows, as read
Changes = list[tuple[Any, str, str]]  # (primary key, old token, new token) of a batch's rows


class Helper:
    """Re-encrypts batches in a process of its own while this one reads and writes the database.

    Re-encryption is Python work under the GIL, and so is much of a query's (its parameters, its
    rows): a thread would only take turns with the queries. A process re-encrypts one batch while
    this one writes the batch before and reads the next, and PostgreSQL works on a core of its own.

    The process is forked (a spawned one would spend half a second importing the project before
    its first batch). It inherits Django's database connection and never uses it: it only runs
    encryption.reencrypt_many on the tokens it is sent, with the keys passed in, and ends with
    os._exit like every multiprocessing child, which closes no connection of the parent's. It starts
    only for a column of more than one batch; a small table is re-encrypted inline."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Helper":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def submit(self, rows: Rows, *, more: bool) -> "Future[tuple[list[str | None], int | None]]":
        tokens = [token for _, token in rows]
        if self.pool is None and not more:
            done: Future[tuple[list[str | None], int | None]] = Future()
            done.set_result(encryption.reencrypt_many(self.keys, tokens))
            return done
        if self.pool is None:
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self.pool.submit(encryption.reencrypt_many, self.keys, tokens)


class Command(BaseCommand):
    help = "Re-encrypt every encrypted secret under the newest PORTICO_ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be rotated.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        keys = encryption.rotation_keys()  # refuses a wrong key configuration before any row is read
        total = 0
        with Helper(keys) as helper:
            for model, field in encrypted_fields():
                column = Column(model, field)
                stale, rotated = column.rotate(helper, dry_run=dry_run)
                done = stale if dry_run else rotated
                if done:
                    self.stdout.write(f"{column.label}: {'would rotate' if dry_run else 'rotated'} {done}")
                if stale > done:
                    self.stdout.write(
                        f"{column.label}: {stale - done} changed meanwhile and left alone "
                        "(run the command again to check them)"
                    )
                total += done
        verb = "would be rotated" if dry_run else "rotated"
        self.stdout.write(self.style.SUCCESS(f"{total} secret(s) {verb} to the newest key."))


class Column:
    """One encrypted column, read and written in raw SQL: the field's from_db_value would decrypt,
    and rotation wants the tokens."""

    def __init__(self, model: type[models.Model], field: EncryptedTextField) -> None:
        quote = connection.ops.quote_name
        self.label = f"{model._meta.label}.{field.name}"
        self.table = quote(model._meta.db_table)
        # A concrete field (all encrypted_fields() returns, and every primary key) has a column.
        self.column = quote(cast(str, field.column))
        self.pk = quote(cast(str, model._meta.pk.column))
        self.pk_type = model._meta.pk.db_type(connection)
        self.column_type = field.db_type(connection)

    def rotate(self, helper: Helper, *, dry_run: bool) -> tuple[int, int]:
        """Rotate the column batch by batch; return the rows found under older keys, and those
        written (fewer if some changed meanwhile; none in a dry run)."""
        stale = written = 0
        previous: Changes = []
        batches = self.batches()
        rows = next(batches, None)
        while rows:
            reencrypting = helper.submit(rows, more=len(rows) == BATCH)
            # While the helper re-encrypts this batch: write the one before, read the next.
            if previous and not dry_run:
                written += self.write(previous)
            next_rows = next(batches, None)
            previous = self.changes(rows, *reencrypting.result())
            stale += len(previous)
            rows = next_rows
        if previous and not dry_run:
            written += self.write(previous)
        return stale, written

    def batches(self) -> Iterator[Rows]:
        """Lists of (pk, token) of the rows with a token, in primary key order, BATCH at a time."""
        last_pk = None
        while True:
            with connection.cursor() as cursor:
                after = "" if last_pk is None else f" AND {self.pk} > %s"
                cursor.execute(
                    f"SELECT {self.pk}, {self.column} FROM {self.table} "  # noqa: S608
                    f"WHERE {self.column} IS NOT NULL{after} ORDER BY {self.pk} LIMIT {BATCH}",
                    [] if last_pk is None else [last_pk],
                )
                rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            last_pk = rows[-1][0]

    def changes(self, rows: Rows, reencrypted: list[str | None], unreadable: int | None) -> Changes:
        """(pk, old token, new token) of the rows not yet under the newest key; a clear error (no
        secret in it) for a token no configured key opens."""
        if unreadable is not None:
            raise CommandError(
                f"{self.label} of row {rows[unreadable][0]} cannot be decrypted with any key of "
                "PORTICO_ENCRYPTION_KEYS (a key no longer configured, or an altered value). Its batch "
                "was left as it was; the batches before it are rotated."
            )
        return [(pk, token, new) for (pk, token), new in zip(rows, reencrypted, strict=True) if new is not None]

    def write(self, changes: Changes) -> int:
        """Write the new tokens of one batch in its own transaction; return the rows written.

        Compare-and-set on the old token: a row changed since it was read (the portal saved a new
        secret, under the newest key) keeps what it holds now."""
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # One statement for the batch, with three array parameters whatever its size.
                with server_bound_cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {self.table} AS t SET {self.column} = v.new "  # noqa: S608
                        f"FROM unnest(%b::{self.pk_type}[], %b::{self.column_type}[], %b::{self.column_type}[]) "
                        f"AS v(pk, old, new) WHERE t.{self.pk} = v.pk AND t.{self.column} = v.old "
                        # The batch's range of keys (in order, as read): the index scan of the
                        # join starts at its first row instead of the table's.
                        f"AND t.{self.pk} BETWEEN %b AND %b",
                        [[pk for pk, _, _ in changes], [old for _, old, _ in changes], [new for _, _, new in changes]]
                        + [changes[0][0], changes[-1][0]],
                    )
                    return cursor.rowcount
            # SQLite (development and tests): one prepared statement, run for each row.
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {self.table} SET {self.column} = %s WHERE {self.pk} = %s AND {self.column} = %s",  # noqa: S608
                    [(new, pk, old) for pk, old, new in changes],
                )
                return cursor.rowcount
