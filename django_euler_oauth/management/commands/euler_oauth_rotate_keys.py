"""``manage.py euler_oauth_rotate_keys``: re-encrypt stored secrets with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from ... import maintenance
from .. import options as checked


class Command(BaseCommand):
    help = (
        "Re-encrypt every OAuth client secret and connection token with the first key of "
        "EULER_OAUTH_ENCRYPTION_KEYS, in batches. Idempotent and resumable; once it "
        "succeeds, older keys may be removed from the setting."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=maintenance.DEFAULT_CHUNK_SIZE,
                            help=f"Rows per transaction (at most {checked.MAX_CHUNK_SIZE}).")
        parser.add_argument("--start-after", type=int, default=None, metavar="PK",
                            help="Resume: skip connections with a primary key up to PK.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = checked.chunk_size(options["batch_size"], "--batch-size")
        start_after = (checked.primary_key(options["start_after"], "--start-after")
                       if options["start_after"] is not None else None)
        verbose = options["verbosity"] >= 1

        def progress(model: str, summary: maintenance.RotateSummary) -> None:
            if verbose and model == "Connection":
                self.stdout.write(f"… connections up to pk {summary.last_pk} done "
                                  f"(resume with --start-after {summary.last_pk})")

        try:
            summary = maintenance.rotate_keys(batch_size=batch_size,
                                              start_after=start_after,
                                              progress=progress)
        except OperationalError as err:
            # e.g. SQLite's write lock held longer than OPTIONS["timeout"]: every batch
            # done so far is committed, so a re-run resumes where this one stopped.
            raise CommandError(f"The database refused a batch ({err}); nothing of that batch "
                               "was written. Run the command again to resume.") from err
        line = (f"Re-encrypted {summary.rotated} values, {summary.current} already current, "
                f"in {summary.rows} rows ({summary.changed_meanwhile} changed meanwhile).")
        if summary.errors:
            shown = "\n".join(summary.errors[:20])
            more = f"\n… and {len(summary.errors) - 20} more" if len(summary.errors) > 20 else ""
            raise CommandError(f"{line}\n{len(summary.errors)} values could not be "
                               f"re-encrypted (restore the key that wrote them, or clear "
                               f"them):\n{shown}{more}")
        self.stdout.write(self.style.SUCCESS(line))
