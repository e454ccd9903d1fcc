"""Interface skeleton: Russian by default, English on request, LESS compiled by lessc, error pages."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import submit

ROOT = Path(__file__).resolve().parent.parent


def test_pages_are_russian_by_default_and_english_on_request(client):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ru">' in page and "Попробуйте бесплатно" in page
    submit(client, "/lang/en", {"next": "/"}, page="/")
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Try it free" in page


def test_the_russian_catalogue_is_complete_and_current(tmp_path):
    from babel.messages.pofile import read_po

    with open(ROOT / "app/translations/ru/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle)
    missing = [m.id for m in catalogue if m.id and not m.string]
    assert missing == []
    pot = tmp_path / "messages.pot"
    subprocess.run([str(ROOT / ".venv/bin/pybabel"), "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-k", "N_", "-o", str(pot), "app", "admin", "dialer/providers"],
                   cwd=ROOT, check=True, capture_output=True)  # as `make extract-messages`
    with open(pot, "rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    assert len(wanted) > 50, "the extraction found (almost) nothing: check babel.cfg"
    assert wanted - {m.id for m in catalogue} == set(), "run `make extract-messages` and translate"


def test_less_is_compiled_by_lessc_through_flask_assets(app, tmp_path):
    from flask_assets import Bundle

    from app.extensions import assets

    source = tmp_path / "probe.less"
    source.write_text('@import "%s";\n.x { width: ~"calc(100%% - 10px)"; color: darken(@mtt-red, 10%%); '
                      "&:hover { color: fade(@ink, 50%%); } }\n" % (ROOT / "assets/less/variables.less"))
    with app.app_context():
        bundle = Bundle(str(source), filters="less", output=str(tmp_path / "probe.css"))
        bundle.env = assets._get_env() if hasattr(assets, "_get_env") else assets
        bundle.build(force=True)
    css = (tmp_path / "probe.css").read_text()
    assert "calc(100% - 10px)" in css  # lesscpy would say calc(90%)
    assert "#b1050d" in css and "rgba(29, 36, 51, 0.5)" in css


def test_pages_link_the_built_stylesheet(client):
    page = client.get("/").get_data(as_text=True)
    href = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert href.startswith("/static/gen/site.") and href.split("?")[0].endswith(".css")
    response = client.get(href)
    assert response.status_code == 200 and b".topbar" in response.data


@pytest.mark.parametrize("path, status", [("/no-such-page", 404), ("/cabinet/", 302)])
def test_unknown_and_protected_pages(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    if status == 404:
        assert "Такой страницы нет" in response.get_data(as_text=True)


def test_security_headers_on_pages(client):
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
