"""Plain SQL for the hot paths (submitting, grading, token authentication, looking a submission up).

Submitting and grading run a few fixed statements per submission. Compiling each through the
ORM costs about 1 ms of CPU on the 2-core benchmark machine, five to ten times running it, so
those statements are written out by their callers with these helpers: table names and full-row
column lists come from the models, and rows become model instances with the database backend's
own converters (JSON decoding, SQLite dates and booleans), as the ORM would load them. Plain SQL
that PostgreSQL and SQLite both run; parameters are adapted by the model fields (`prep`).

Each helper looks this thread's connection up once (`current`) and passes the object on: every
attribute read through `django.db.connection`, a proxy, is a thread-local lookup, and the field
adapters read several each, ~50 per submitted answer before this (about 5 % of a POST's CPU).
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


def current():
    """This thread's default database connection (what `django.db.connection` stands for)."""
    return connections[DEFAULT_DB_ALIAS]


def quote(name: str) -> str:
    """A column or table name quoted for this database."""
    return current().ops.quote_name(name)


def table(model) -> str:
    """The model's quoted table name."""
    return quote(model._meta.db_table)


def columns(model, alias: str, deferred: tuple[str, ...] = ()) -> str:
    """`alias.col, ...` for every concrete field of `model` but the `deferred` ones (attribute
    names; loaded on first access, as QuerySet.defer does), in the order `RowLoader` reads them."""
    conn = current()
    key = (model, alias, conn.vendor, deferred)
    if key not in _COLUMNS:
        _COLUMNS[key] = ", ".join(f"{alias}.{conn.ops.quote_name(f.column)}" for f in _fields(model, deferred))
    return _COLUMNS[key]


def _fields(model, deferred: tuple[str, ...]) -> list:
    return [f for f in model._meta.concrete_fields if f.attname not in deferred]


def prep(model, name: str, value: Any, conn=None) -> Any:
    """`value` as the database takes it for field `name` (JSON, SQLite datetimes, ...)."""
    return model._meta.get_field(name).get_db_prep_save(value, conn or current())


class RowLoader:
    """Turns a slice of a result row (a `columns()` list) into a model instance, applying the
    same converters the ORM applies to those columns."""

    def __init__(self, model, conn, deferred: tuple[str, ...] = ()):
        self.model, self.conn = model, conn
        fields = _fields(model, deferred)
        self.width = len(fields)
        self.attnames = [f.attname for f in fields]
        self.converters = []
        for index, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if found:
                self.converters.append((index, col, found))

    @classmethod
    def of(cls, model, conn=None, deferred: tuple[str, ...] = ()) -> RowLoader:
        """The loader for `model` (without its `deferred` fields) on this thread's connection
        (converters are bound to it)."""
        conn = conn or current()
        # kept on the connection object itself: the loaders (whose converters may be bound to it)
        # go with it when its thread ends, where a module-level cache would keep it alive
        loaders = conn.__dict__.setdefault("_row_loaders", {})
        key = (model, deferred)
        if key not in loaders:
            loaders[key] = cls(model, conn, deferred)
        return loaders[key]

    def load(self, row: tuple, start: int = 0):
        """The instance whose columns start at `row[start]`."""
        values = list(row[start : start + self.width])
        conn = self.conn
        for index, col, found in self.converters:
            value = values[index]
            for convert in found:
                value = convert(value, col, conn)
            values[index] = value
        return self.model.from_db(conn.alias, self.attnames, values)


def load_models(row: tuple, *models, deferred: dict | None = None) -> list:
    """One instance per model from a row of `columns(models[0], ..), columns(models[1], ..), ...`
    (a join read in one query); `deferred` {model: attribute names} as given to `columns`."""
    conn = current()
    instances, start = [], 0
    for model in models:
        loader = RowLoader.of(model, conn, (deferred or {}).get(model, ()))
        instances.append(loader.load(row, start))
        start += loader.width
    return instances


_COLUMNS: dict[tuple[type, str, str, tuple[str, ...]], str] = {}


def fetch_one(sql: str, params: list) -> tuple | None:
    """The first row of a query (through Django's cursor: same connection, transaction, errors)."""
    with current().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def insert_row(obj) -> None:
    """What `obj.save(force_insert=True)` does (field defaults, auto_now_add, adaptation), as one
    `INSERT ... RETURNING` without compiling it; the ORM's save where RETURNING is missing.
    Model signals are not sent (nothing in the project listens to them)."""
    conn = current()
    if not conn.features.can_return_columns_from_insert:
        obj.save(force_insert=True)
        return
    model = type(obj)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), conn) for f in fields]
    names = ", ".join(conn.ops.quote_name(f.column) for f in fields)
    row = fetch_one(
        f"INSERT INTO {table(model)} ({names}) VALUES ({', '.join(['%s'] * len(fields))}) "
        f"RETURNING {conn.ops.quote_name(model._meta.pk.column)}",
        values,
    )
    obj.pk = row[0]
    obj._state.adding, obj._state.db = False, conn.alias


def execute(sql: str, params: list) -> int:
    """Run a write; the number of rows it changed."""
    with current().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
