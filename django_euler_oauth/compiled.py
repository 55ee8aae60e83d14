"""Queries compiled once per database connection: the token read and the refresh's row read.

Compiling an ORM query (joins, filters, expressions) costs more than running it on
the per-request and per-refresh paths. A :class:`CompiledQuery` keeps a queryset's
SQL and column converters; each call swaps the placeholder parameters ("marks")
for the real values, runs the SQL and converts the rows as the ORM would. They
are kept on the database connection (so per thread): :func:`per_connection`, and
so is the cursor they run on (:func:`kept_cursor`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def per_connection(connection: Any, name: str, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` once per database ``connection`` and ``(name, key)``."""
    cache: dict[Hashable, Any] = connection.__dict__.setdefault(name, {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = build()
    return found


@contextlib.contextmanager
def kept_cursor(connection: Any) -> Iterator[Any]:
    """``connection.cursor()``, kept open for the next call on the same database session.

    A new cursor looks up and builds its type adapters afresh (about a tenth of a
    refresh's database CPU on PostgreSQL); the refresh path's statements reuse one.
    PostgreSQL only (psycopg reads whole results: a kept cursor holds nothing open on
    the server; SQLite's would keep a statement, and its lock, alive). While queries
    are logged (``DEBUG``, ``assertNumQueries``) each call gets a new cursor, so they
    are logged as usual.
    """
    if connection.vendor != "postgresql" or connection.queries_logged:
        with connection.cursor() as cursor:
            yield cursor
        return
    kept = connection.__dict__.get("_euler_oauth_cursor")
    if (kept is None or connection.connection is None
            or getattr(kept.cursor, "connection", None) is not connection.connection
            or getattr(kept.cursor, "closed", False)):
        kept = connection.__dict__["_euler_oauth_cursor"] = connection.cursor()
    yield kept


class CompiledQuery:
    """``queryset`` compiled for ``alias``; ``marks`` are parameters replaced per call."""

    __slots__ = ("begins", "columns", "compiler", "converters", "names", "params", "slots",
                 "sql")

    def __init__(self, queryset: Any, alias: str, marks: tuple[Any, ...],
                 begin: bool = False) -> None:
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        self.compiler = compiler
        # begin: the same query sent with "BEGIN; " (client-side binding only).
        self.begins = begin
        self.sql = f"BEGIN; {sql}" if begin else sql
        self.params = list(params)
        self.slots = {mark: self.params.index(mark) for mark in marks if mark in self.params}
        self.columns = [col for col, _sql, _alias in compiler.select]
        self.converters = [(index, convs, expression) for index, (convs, expression)
                           in compiler.get_converters(self.columns).items()]
        self.names = self.attnames()  # "" for an annotation

    def attnames(self, indexes: list[int] | None = None) -> list[str]:
        """The model attribute each selected column (or those at ``indexes``) fills."""
        chosen = self.columns if indexes is None else [self.columns[i] for i in indexes]
        return [str(getattr(getattr(col, "target", None), "attname", "")) for col in chosen]

    def rows(self, connection: Any, values: dict[Any, Any]) -> list[list[Any]]:
        """At most two rows, the marks replaced by ``values``, converted as the ORM would."""
        params = list(self.params)
        for mark, value in values.items():
            index = self.slots.get(mark)
            if index is not None:
                params[index] = value
        with kept_cursor(connection) as cursor:
            cursor.execute(self.sql, params)
            if self.begins:
                cursor.nextset()  # past BEGIN's result
            rows = [list(row) for row in cursor.fetchmany(2)]
        for row in rows:
            for index, convs, expression in self.converters:
                value = row[index]
                for conv in convs:
                    value = conv(value, expression, connection)
                row[index] = value
        return rows
