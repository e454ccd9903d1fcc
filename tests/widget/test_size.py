"""W15: everything the widget loads is one file, built by `make widget`, at most 10 KB gzipped."""
from __future__ import annotations

import gzip
from pathlib import Path

WIDGET = Path(__file__).resolve().parents[2] / "app" / "static" / "widget.js"
BUDGET_BYTES = 10 * 1024


def test_widget_is_built():
    assert WIDGET.is_file(), f"{WIDGET} is missing: run `make widget` (make test builds it through `make assets`)"


def test_widget_fits_the_size_budget():
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    assert size <= BUDGET_BYTES, f"widget.js is {size} bytes gzipped (level 9), over the {BUDGET_BYTES}-byte budget"


def test_widget_is_one_self_contained_file():
    """No second request: the bundle imports nothing and points at no source map."""
    text = WIDGET.read_text(encoding="utf-8")
    assert "sourceMappingURL" not in text
    assert "import(" not in text and "importScripts" not in text
