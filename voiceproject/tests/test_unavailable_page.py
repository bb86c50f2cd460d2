"""The 503 page (voiceproject/page_timeout.unavailable_page) links its small stylesheet, and
still answers, plain, when the static files cannot name it: a deploy that skipped
collectstatic must not turn the page shown while the database is away into an error."""

from __future__ import annotations

from pathlib import Path

from django.test import override_settings

from voiceproject.page_timeout import unavailable_page

HASHED = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def test_the_page_links_its_stylesheet() -> None:
    response = unavailable_page()

    assert response.status_code == 503
    assert b'rel="stylesheet"' in response.content
    assert b"pages/unavailable" in response.content


def test_without_the_stylesheet_in_the_static_files_the_page_answers_plain(tmp_path: Path) -> None:
    empty = {"BACKEND": HASHED}  # no manifest: every static name is refused with ValueError
    with override_settings(STORAGES={"staticfiles": empty}, STATIC_ROOT=tmp_path):
        response = unavailable_page()

    assert response.status_code == 503
    assert response["Retry-After"]
    assert b"Try again in a moment" in response.content
    assert b"stylesheet" not in response.content
