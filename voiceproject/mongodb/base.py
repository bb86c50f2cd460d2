"""The database engine: django-mongodb-backend with the compilers of `compiler.py`, and
`iexact` escaped as the backend escapes its other pattern lookups."""

from __future__ import annotations

from typing import Any

from django_mongodb_backend.base import DatabaseWrapper as MongoDatabaseWrapper
from django_mongodb_backend.operations import DatabaseOperations as MongoDatabaseOperations


class DatabaseOperations(MongoDatabaseOperations):
    compiler_module = "voiceproject.mongodb.compiler"

    def prep_for_iexact_query(self, x: Any) -> str:
        """`iexact` is the regex `^value$` (case-insensitive) here, so the value is escaped
        as one, as the backend escapes `contains` and the others. Django binds its own SQL
        LIKE escaping to this name, which the backend leaves in place (5.2.4, and its main in
        August 2026): "a.b" found "axb", and a username with "[" made the admin's add-user
        form (whose uniqueness check is an iexact) answer 500."""
        return str(self.prep_for_like_query(x))


class DatabaseWrapper(MongoDatabaseWrapper):
    ops_class = DatabaseOperations
