"""Production static files: every module the voice page imports is named by its hashed file,
so a browser never runs one release's app.js against another release's modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

HASHED = re.compile(r"^(?P<stem>[\w-]+)\.[0-9a-f]{12}\.js$")
IMPORT = re.compile(r'^import .* from "\./(?P<file>[^"]+)";$', re.MULTILINE)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staticfiles")
    # What the settings choose with DEBUG off (tests run with plain storage: no collectstatic).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "voiceproject.staticfiles.HashedModulesStorage"},
    }
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", "--noinput", "-v", "0")
    return root / "voice"


def test_the_voice_page_s_modules_import_each_other_by_hashed_name(collected: Path) -> None:
    hashed_modules = [path for path in collected.glob("*.js") if HASHED.match(path.name)]
    imports = {path.name: IMPORT.findall(path.read_text()) for path in hashed_modules}

    app = next(name for name in imports if name.startswith("app."))
    assert len(imports[app]) >= 3
    for module, targets in imports.items():
        for target in targets:
            assert HASHED.match(target), f"{module} imports {target} by its unhashed name"
            assert (collected / target).exists(), f"{module} imports missing {target}"
