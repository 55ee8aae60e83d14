"""``manage.py euler_oauth_refresh``: refresh connections about to expire (cron or a timer)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import maintenance
from .. import options as checked


class Command(BaseCommand):
    help = (
        "Refresh the access token of every active connection that expires within a "
        "window (default: EULER_OAUTH_REFRESH_LEEWAY plus 10 minutes), a few at a time. "
        "Exits non-zero when any refresh failed for a reason other than a dead grant."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--within", type=int, default=None, metavar="SECONDS",
                            help="Refresh tokens expiring within this many seconds "
                                 f"(default: the refresh leeway + "
                                 f"{int(maintenance.DEFAULT_MARGIN.total_seconds())}; at most "
                                 f"{int(checked.MAX_WITHIN.total_seconds())}).")
        parser.add_argument("--workers", type=int, default=maintenance.DEFAULT_WORKERS,
                            help="Refreshes in flight at once (threads; 1 on SQLite; at most "
                                 f"{checked.MAX_WORKERS}).")
        parser.add_argument("--chunk-size", type=int, default=maintenance.DEFAULT_CHUNK_SIZE,
                            help="Connections read from the database per query (at most "
                                 f"{checked.MAX_CHUNK_SIZE}).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Only count the connections that would be refreshed.")

    def handle(self, *args: Any, **options: Any) -> None:
        within = (checked.window(options["within"])
                  if options["within"] is not None else maintenance.default_window())
        workers = checked.workers(options["workers"])
        chunk_size = checked.chunk_size(options["chunk_size"])
        verbose = options["verbosity"] >= 1

        def progress(summary: maintenance.RefreshSummary, queued: int) -> None:
            if verbose:
                self.stdout.write(f"… {queued} queued, {summary.total} done")

        summary = maintenance.refresh_expiring(
            within=within, workers=workers, chunk_size=chunk_size,
            dry_run=options["dry_run"], progress=progress)
        if summary.dry_run:
            self.stdout.write(f"Dry run: {summary.candidates} connections expire within "
                              f"{int(within.total_seconds())}s and would be refreshed.")
            return
        line = (f"Refreshed {summary.refreshed}, skipped {summary.skipped}, "
                f"reauthorization required {summary.reauthorization_required}, "
                f"failed {summary.failed} (of {summary.candidates}; "
                f"{summary.workers} workers).")
        if summary.failed:
            codes = ", ".join(f"{code}: {n}" for code, n in summary.failure_codes.most_common())
            listed = ", ".join(str(pk) for pk, _code in summary.failures)
            raise CommandError(f"{line} Failures by cause: {codes}. Connections: {listed}"
                               + (" …" if summary.failed > len(summary.failures) else ""))
        self.stdout.write(self.style.SUCCESS(line))
