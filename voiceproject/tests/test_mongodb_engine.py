"""The database engine writes nested field specs as dotted paths (voiceproject/mongodb)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from voiceproject.mongodb.compiler import dotted, dotted_stage


def test_nested_field_specs_become_dotted_paths() -> None:
    spec = {"codename": 1, "django_content_type": {"app_label": 1, "model": "$x.model"}}

    assert dotted(spec) == {
        "codename": 1,
        "django_content_type.app_label": 1,
        "django_content_type.model": "$x.model",
    }


def test_expression_objects_are_left_alone() -> None:
    spec = {"n": {"$cond": {"if": True, "then": 1, "else": 0}}, "d": {"e": {"$literal": 1}}}

    assert dotted(spec) == {"n": {"$cond": {"if": True, "then": 1, "else": 0}},
                            "d.e": {"$literal": 1}}  # fmt: skip


def test_only_project_and_add_fields_stages_change() -> None:
    assert dotted_stage({"$addFields": {"a": {"b": "$c"}}}) == {"$addFields": {"a.b": "$c"}}
    assert dotted_stage({"$project": {"a": {"b": 1}}}) == {"$project": {"a.b": 1}}
    assert dotted_stage({"$group": {"_id": {"a": "$a"}}}) == {"$group": {"_id": {"a": "$a"}}}
    assert dotted_stage({"$match": {"a": {"b": 1}}}) == {"$match": {"a": {"b": 1}}}


@pytest.mark.django_db
def test_only_and_defer_read_only_the_chosen_fields() -> None:
    from support.models import Call

    with CaptureQueriesContext(connection) as queries:
        list(Call.objects.only("call_id", "started_at"))
        list(Call.objects.defer("transcript", "tool_calls"))
        list(Call.objects.all())

    only, deferred, everything = (q["sql"] for q in queries.captured_queries)
    assert "'$project': {'_id': 1, 'call_id': 1, 'started_at': 1}" in only
    assert "'$project'" in deferred and "transcript" not in deferred and "usage" in deferred
    assert "'$project'" not in everything


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("asked", "found"),
    [("a.b", ["A.B"]), ("A.B", ["A.B"]), (".*", []), ("[", []), ("a+b", []), ("a\\b", [])],
)
def test_iexact_matches_the_value_itself_ignoring_case_whatever_its_characters(
    asked: str, found: list[str]
) -> None:
    from django.contrib.auth.models import User

    for username in ("axb", "A.B", "aab"):
        User.objects.create(username=username)

    matched = User.objects.filter(username__iexact=asked).values_list("username", flat=True)
    assert list(matched) == found
