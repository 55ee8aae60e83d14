"""``manage.py migrate``, which also migrates the sandbox's own database.

Django's ``migrate`` acts on one database (``--database``, default ``default``); a site
that gives the sandbox its own database (``DATABASES["euler_sandbox"]``) also needed
``migrate --database euler_sandbox``, and without it the sandbox's pages failed with "no
such table" while plain ``migrate`` had said OK. This command replaces Django's while the
sandbox app is installed (an installed app's command overrides a built-in one of the same
name, as ``django.contrib.staticfiles`` does with ``runserver``). Typed without
``--database``, it migrates ``default``, then ``euler_sandbox`` when that database is
configured, exactly as the two commands would, and says so. Everything else is Django's
command unchanged: ``--database NAME``, and ``call_command("migrate")`` from code (test
runners, scripts, tests that allow one database), which keeps meaning one database.

Why not a ``post_migrate`` handler: the signal cannot tell ``migrate`` from
``migrate --database default`` nor the command line from code, it is also sent by
``flush`` (every ``TransactionTestCase``), and while a test runner migrates the
``default`` test database the ``euler_sandbox`` alias still names the real one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS

from ...routers import ALIAS, APP_LABEL


class Command(DjangoMigrate):
    help = (f"{DjangoMigrate.help} Typed without --database: the default database, then the "
            f"sandbox's ({ALIAS}) when DATABASES configures it.")

    #: Set for ``manage.py migrate`` typed at the command line (not for call_command()).
    every_database = False

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=None)  # tells "not given" from "--database default"

    def run_from_argv(self, argv: list[str]) -> None:
        self.every_database = True
        super().run_from_argv(argv)

    def _databases(self, options: dict[str, Any]) -> list[str]:
        if options.get("database") is not None:
            return [options["database"]]
        app_label = options.get("app_label")
        if (not self.every_database or ALIAS not in settings.DATABASES
                or (app_label and app_label != APP_LABEL)):
            return [DEFAULT_DB_ALIAS]
        return [DEFAULT_DB_ALIAS, ALIAS]

    def get_check_kwargs(self, options: Any) -> Any:
        # Django 5.2+ runs migrate's checks before handle(), on the databases named here.
        kwargs = super().get_check_kwargs(options)
        kwargs["databases"] = self._databases(options)
        return kwargs

    def handle(self, *args: Any, **options: Any) -> None:
        first, *rest = self._databases(options)
        super().handle(*args, **{**options, "database": first})
        for alias in rest:
            if options.get("verbosity", 1) >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING(
                    f"Now the sandbox's database ({alias!r}), as "
                    f"`migrate --database {alias}` would:"))
            # Django before 5.2 checks in handle(): once (on the first database) is enough.
            super().handle(*args, **{**options, "database": alias, "skip_checks": True})
