"""``manage.py euler_oauth_rotate_keys``: re-encrypt stored secrets with the newest key
(``--check``: only read them, and name the ones the keys cannot decrypt)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from ... import maintenance
from .. import options as checked

#: How many undecryptable values a failure lists (the count is always complete).
MAX_LISTED = 20


def _listed(names: list[str]) -> str:
    shown = "\n".join(names[:MAX_LISTED])
    more = f"\n… and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return shown + more


class Command(BaseCommand):
    help = (
        "Re-encrypt every OAuth client secret, API key and connection token with the first "
        "key of EULER_OAUTH_ENCRYPTION_KEYS, in batches. Idempotent and resumable; once it "
        "succeeds, older keys may be removed from the setting. With --check, only read "
        "every value and exit non-zero naming those no key decrypts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=maintenance.DEFAULT_CHUNK_SIZE,
                            help=f"Rows per transaction (at most {checked.MAX_CHUNK_SIZE}).")
        parser.add_argument("--start-after", type=int, default=None, metavar="PK",
                            help="Resume: skip connections with a primary key up to PK.")
        parser.add_argument("--check", action="store_true",
                            help="Write nothing: try to decrypt every stored value with the "
                                 "configured keys and exit non-zero naming each one that "
                                 "fails (model, field, pk).")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = checked.chunk_size(options["batch_size"], "--batch-size")
        if options["check"]:
            if options["start_after"] is not None:
                raise CommandError("--start-after resumes a rotation; --check reads every row.")
            self._check(batch_size)
            return
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
            raise CommandError(f"{line}\n{len(summary.errors)} values could not be "
                               f"re-encrypted (restore the key that wrote them, or clear "
                               f"them):\n{_listed(summary.errors)}")
        self.stdout.write(self.style.SUCCESS(line))

    def _check(self, batch_size: int) -> None:
        found = maintenance.check_decryption(batch_size=batch_size)
        if found.failures:
            raise CommandError(
                f"{len(found.failures)} of {found.values} stored values cannot be decrypted "
                "with EULER_OAUTH_ENCRYPTION_KEYS (put the key that encrypted them back, "
                "after the newest, or clear them):\n" + _listed(found.failures))
        due = (f"; {found.stale} not yet under the newest key (run the command without "
               "--check to re-encrypt them)" if found.stale else "")
        self.stdout.write(self.style.SUCCESS(
            f"All {found.values} stored values decrypt with EULER_OAUTH_ENCRYPTION_KEYS"
            f"{due}."))
