"""What the management commands share: a bound on each step of their database work.

Django's MongoClient has no timeout of its own (voiceproject/page_timeout.py), so that a
command runs as long as its work needs. But a database that stops answering (frozen, a stalled
disk, a failover gone wrong) would then hold a command forever: a cron job would never fail,
and the next day's would wait behind it. So each step of a command's work (one query, each
batch of its answer, one batch of writes) must end within STEP_TIMEOUT_S, far longer than any
step takes, or the command fails (exit 1) saying so. The driver ends the step itself
(`pymongo.timeout`); a step is small whatever the size of the work, so the bound never cuts
a long run short.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pymongo
from pymongo.database import Database
from pymongo.errors import ExecutionTimeout, NetworkTimeout, PyMongoError

from support import mongo

STEP_TIMEOUT_S = 60.0

T = TypeVar("T")


def step_bound() -> AbstractContextManager[None]:
    """PyMongo's operation timeout for one step: what runs inside shares its deadline."""
    return pymongo.timeout(STEP_TIMEOUT_S)


def bounded(steps: Iterable[T]) -> Iterator[T]:
    """The items of `steps` (a cursor, or a generator of queries such as `mongo.find_in`),
    each fetched within its own step_bound(): a cursor asks the database for its next batch
    only when its next item is wanted."""
    iterator = iter(steps)
    while True:
        with step_bound():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def check_answering(db: Database[Any]) -> None:
    """Raise PyMongoError unless the database answers within the client's server selection
    timeout (5 s): first thing, since under a bound PyMongo waits for a server as long as the
    bound lasts, and a database that is not there should be said at once."""
    with pymongo.timeout(db.client.options.server_selection_timeout):
        db.command("ping")


def failure_line(error: PyMongoError) -> str:
    """One line for an operator on why a command's database work failed: `mongo.failure_line`,
    or that the database stopped answering."""
    if isinstance(error, (NetworkTimeout, ExecutionTimeout)):
        what = str(error).split(" (configured timeouts")[0]
        return f"The database did not answer in time ({what}): the command stopped."
    return mongo.failure_line(error)
