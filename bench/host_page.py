"""Main-thread time a client's page spends with the widget snippet against the same page without it.

    .venv/bin/python bench/host_page.py [--runs 10] [--idle 2]

The app is served as `make run` serves it (gunicorn from the Procfile, a fresh migrated and seeded SQLite),
with the widget bundle app/static/widget.js (`make widget`). A host page from another origin, a realistic
article of about 50 KB of HTML with no other resources, is served by a tiny `http.server` on another loopback
port and loaded as http://localhost:HOSTPORT (added to the demo site's domains in a setup step, so the
widget's cross-origin configuration request is allowed). Page A is the article; page B is the same article
with the install snippet `<script async src="http://127.0.0.1:PORT/widget.js" data-site="KEY">` before
`</body>`. Debian's Chromium (headless, through Playwright) loads each in a fresh context (a first visit: no
cache), waits for `load` and --idle seconds, and reads the renderer's CDP `Performance.getMetrics`:
`TaskDuration` (all main-thread tasks) and `ScriptDuration` (JavaScript). A and B alternate (AB, BA, ...);
medians, their difference B - A, the median of the differences within each adjacent pair (steadier when the
machine's load drifts) and the ratio B / A are reported. Page B's run counts only if the widget got
its configuration (window.CallBack.state() has signals).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from widget_config import HOST, ROOT, app_env, app_python, gunicorn, seed  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WIDGET = ROOT / "app" / "static" / "widget.js"
ARTICLE_BYTES = 50_000

ADD_ORIGIN = """
import sqlalchemy as sa
from app.extensions import db
from app.models import Site
from app.services import sites
from app.services.audit import acting_as

with acting_as("bench:host_page"):
    site = db.session.scalar(sa.select(Site).where(Site.public_key == {key!r}))
    site.domains = sites.clean_domains([*site.domains, {origin!r}])
    db.session.commit()
print(site.domains)
"""

STYLE = """
body{margin:0;font:17px/1.6 Georgia,serif;color:#222;background:#fafafa}
header,footer{background:#1d3557;color:#fff;padding:12px 24px}header nav a,footer a{color:#f1faee;margin-right:16px}
.wrap{display:flex;max-width:1100px;margin:0 auto;gap:32px;padding:24px}article{flex:3}aside{flex:1;font-size:15px}
h1{font-size:34px;line-height:1.2}h2{margin-top:32px}blockquote{border-left:4px solid #457b9d;margin:0;padding:4px 16px}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:6px}.meta{color:#777;font-size:14px}
"""

SENTENCES = [
    "Малый бизнес всё чаще принимает заявки с сайта, и скорость ответа решает, купит ли посетитель.",
    "Исследования показывают, что звонок в первые минуты после заявки втрое повышает конверсию.",
    "Менеджер видит, откуда пришёл клиент, какие страницы он смотрел и что искал в поисковике.",
    "Если рабочий день закончился, посетитель выбирает удобное время, и звонок переносится на утро.",
    "Настройка занимает несколько минут: достаточно вставить одну строку кода перед закрывающим тегом.",
    "Статистика по каналам рекламы помогает понять, какие объявления приводят звонки, а какие нет.",
    "Ночью и в выходные заявки не теряются: их получает дежурный отдел или почта руководителя.",
    "Опытные маркетологи советуют не показывать всплывающие окна сразу, а дождаться интереса читателя.",
]


def article_html(snippet: str) -> str:
    """A news-site article page of about ARTICLE_BYTES bytes, with `snippet` just before </body>."""
    nav = "".join(f'<a href="/section/{n}">Раздел {n}</a>' for n in range(1, 9))
    related = "".join(f'<li><a href="/news/{n}">Ещё одна статья о продажах по телефону, часть {n}</a></li>'
                      for n in range(1, 16))
    rows = "".join(f"<tr><td>Канал {n}</td><td>{n * 37 % 100}%</td><td>{n * 113 % 1000} заявок</td></tr>"
                   for n in range(1, 11))
    head = (f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Как не терять заявки с сайта</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><header><strong>Деловой вестник</strong> <nav>{nav}</nav></header><div class="wrap"><article>'
            f'<h1>Как не терять заявки с сайта: обратный звонок за 30 секунд</h1>'
            f'<p class="meta">27 ноября 2026 · 12 минут чтения</p>')
    tail = (f'<h2>Итоги по каналам</h2><table><tr><th>Канал</th><th>Доля</th><th>Заявки</th></tr>{rows}</table>'
            f'</article><aside><h3>Читайте также</h3><ul>{related}</ul></aside></div>'
            f'<footer><a href="/about">О редакции</a><a href="/ads">Реклама</a> © 2026</footer>{snippet}</body></html>')
    body, number = [], 0
    while len((head + "".join(body) + tail).encode()) < ARTICLE_BYTES:
        if number % 6 == 0:
            body.append(f"<h2>Глава {number // 6 + 1}</h2>")
        if number % 9 == 4:
            body.append(f"<blockquote>{SENTENCES[number % len(SENTENCES)]}</blockquote>")
        text = " ".join(SENTENCES[(number + k) % len(SENTENCES)] for k in range(4))
        body.append(f"<p>{text}</p>")
        number += 1
    return head + "".join(body) + tail


@contextlib.contextmanager
def static_server(directory: str, port: int):
    """A quiet `http.server` for `directory` on the loopback, in a thread, until the block ends."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((HOST, port), functools.partial(Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main_thread_ms(browser, url: str, idle_s: float, expect_widget: bool) -> dict[str, float]:
    """Load `url` in a fresh context; TaskDuration and ScriptDuration (ms) after `load` and `idle_s`."""
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url, wait_until="load")
        page.wait_for_timeout(idle_s * 1000)
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        if expect_widget:
            state = page.evaluate("window.CallBack && window.CallBack.state()")
            if not state or not state.get("signals"):
                raise RuntimeError(f"the widget did not start on {url}: state {json.dumps(state)}")
        return {"task": 1000 * metrics["TaskDuration"], "script": 1000 * metrics["ScriptDuration"]}
    finally:
        context.close()


def run(tmp: str, args) -> None:
    from playwright.sync_api import sync_playwright
    from servers import free_port

    app_port, host_port = free_port(), free_port()
    host_origin = f"http://localhost:{host_port}"
    env = app_env(tmp, app_port)
    site_key = seed(env)["site_key"]
    app_python(env, ADD_ORIGIN.format(key=site_key, origin=host_origin))
    pages = Path(tmp) / "host"
    pages.mkdir()
    snippet = f'<script async src="http://{HOST}:{app_port}/widget.js" data-site="{site_key}"></script>'
    (pages / "a.html").write_text(article_html(""))
    (pages / "b.html").write_text(article_html(snippet))
    sizes = {name: (pages / f"{name}.html").stat().st_size for name in "ab"}
    results: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
    with static_server(str(pages), host_port), gunicorn(env, app_port, f"{tmp}/gunicorn.log"), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in "ab":  # warm-up: the servers, Chromium's process pool and disk caches
                main_thread_ms(browser, f"{host_origin}/{name}.html", args.idle, name == "b")
            for run_number in range(args.runs):
                order = "ab" if run_number % 2 == 0 else "ba"
                for name in order:
                    results[name].append(main_thread_ms(browser, f"{host_origin}/{name}.html", args.idle,
                                                        name == "b"))
        finally:
            browser.close()
    print(f"{args.runs} runs per page, alternating; medians after load + {args.idle:g} s; "
          f"page A {sizes['a']} B, page B {sizes['b']} B, widget.js {WIDGET.stat().st_size} B")
    for metric, label in (("task", "TaskDuration"), ("script", "ScriptDuration")):
        a = statistics.median(r[metric] for r in results["a"])
        b = statistics.median(r[metric] for r in results["b"])
        paired = statistics.median(rb[metric] - ra[metric] for ra, rb in zip(results["a"], results["b"],
                                                                              strict=True))
        ratio = f"{b / a:.2f}" if a else "n/a (no script without the widget)"
        print(f"{label:15} without {a:6.1f} ms   with widget {b:6.1f} ms   difference {b - a:+6.1f} ms "
              f"(median of paired differences {paired:+6.1f} ms)   ratio {ratio}")
    if args.verbose:
        for name in "ab":
            print(name, " ".join(f"{r['task']:.0f}/{r['script']:.0f}" for r in results[name]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="loads of each page")
    parser.add_argument("--idle", type=float, default=2, help="seconds after load before reading the metrics")
    parser.add_argument("--verbose", action="store_true", help="also each run's TaskDuration/ScriptDuration")
    args = parser.parse_args()
    if not WIDGET.exists():
        sys.exit(f"{WIDGET} is missing: build it with `make widget`")
    with tempfile.TemporaryDirectory(prefix="bench-host-") as tmp:
        run(tmp, args)


if __name__ == "__main__":
    main()
