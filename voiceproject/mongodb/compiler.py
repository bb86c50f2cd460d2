"""django-mongodb-backend's compilers: joined fields projected by dotted path, and `.only()` /
`.defer()` honoured by the database.

The backend projects a joined table's fields as a nested document: `select_related` with an
ordering on the joined table adds its sort keys with `{"$addFields": {"django_content_type":
{"app_label": "$django_content_type.app_label"}}}`, and `values("content_type__app_label")`
projects `{"$project": {"django_content_type": {"app_label": 1}}}`. MongoDB reads a nested
spec as the dotted paths inside it: the $addFields merges into the joined document and the
$project includes one field of it. The embedded SecantusDB (0.7.0b3) does neither: its
$addFields replaces the joined document (dropping its `_id`, so `Permission.content_type`
came back empty and the admin's user and group pages crashed with "Permission has no
content_type"), and its $project returns the literal 1 as the value.

Writing the same specs as dotted paths (`{"django_content_type.app_label": ...}`) means the
same thing to MongoDB and is answered right by both servers, so every query through the ORM
is sent that way. Expression objects (`{"$cond": ...}`) are left as they are.
"""

from __future__ import annotations

from typing import Any

from django_mongodb_backend import compiler
from django_mongodb_backend.query import MongoQuery

FLATTENED_STAGES = ("$project", "$addFields")


def dotted(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`spec` with every nested field spec written as dotted paths. Pure."""
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        path = prefix + key
        if isinstance(value, dict) and value and not any(k.startswith("$") for k in value):
            flat.update(dotted(value, path + "."))
        else:
            flat[path] = value
    return flat


def dotted_stage(stage: dict[str, Any]) -> dict[str, Any]:
    """A pipeline stage, its field specs dotted if it is a $project or an $addFields."""
    if len(stage) != 1:
        return stage
    name, spec = next(iter(stage.items()))
    if name in FLATTENED_STAGES and isinstance(spec, dict):
        return {name: dotted(spec)}
    return stage


class DottedQuery(MongoQuery):
    def get_pipeline(self) -> list[dict[str, Any]]:
        return [dotted_stage(stage) for stage in super().get_pipeline()]


class SQLCompiler(compiler.SQLCompiler):
    query_class = DottedQuery

    def build_query(self, columns: Any = None) -> MongoQuery:
        # The backend leaves out $project whenever a query selects a model's default columns,
        # `.only()` and `.defer()` included: they fetched every field (a call list read every
        # call's transcript). Projecting the selected columns makes them read only those.
        if columns is None and self.query.default_cols and self.query.deferred_loading != (
            frozenset(), True
        ):
            columns = self.columns
        return super().build_query(columns)


class SQLInsertCompiler(compiler.SQLInsertCompiler):
    query_class = DottedQuery


class SQLDeleteCompiler(compiler.SQLDeleteCompiler):
    query_class = DottedQuery


class SQLUpdateCompiler(compiler.SQLUpdateCompiler):
    query_class = DottedQuery


class SQLAggregateCompiler(compiler.SQLAggregateCompiler):
    query_class = DottedQuery
