"""How static files are stored for production (`collectstatic` with DEBUG off)."""

from __future__ import annotations

from servestatic.storage import CompressedManifestStaticFilesStorage  # type: ignore[import-untyped]


class HashedModulesStorage(CompressedManifestStaticFilesStorage):
    """servestatic's hashed, compressed files, with ES module imports rewritten to hashed names.

    The voice page's script is a graph of modules (`import { Call } from "./call.js"`).
    Without the rewrite the page names a hashed app.js (cached for a year) that imports
    unhashed modules (cached for a minute), so for a while after a release a browser could
    run the new app.js against the old call.js. Rewritten, every module of a release names
    the exact files of that release.
    """

    support_js_module_import_aggregation = True
