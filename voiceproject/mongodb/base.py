"""The database engine: django-mongodb-backend with the compilers of `compiler.py`."""

from __future__ import annotations

from django_mongodb_backend.base import DatabaseWrapper as MongoDatabaseWrapper
from django_mongodb_backend.operations import DatabaseOperations as MongoDatabaseOperations


class DatabaseOperations(MongoDatabaseOperations):
    compiler_module = "voiceproject.mongodb.compiler"


class DatabaseWrapper(MongoDatabaseWrapper):
    ops_class = DatabaseOperations
