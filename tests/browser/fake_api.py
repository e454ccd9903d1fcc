"""A fake CallBack API and host pages on loopback, for driving the built widget in Chromium."""
from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

WIDGET = Path(__file__).resolve().parents[2] / "app" / "static" / "widget.js"
KEY = "KEY"

STRINGS = {
    "close": "Закрыть", "phone": "Ваш телефон", "country": "Страна", "office": "Офис", "any_office": "Любой офис",
    "consent": "Я согласен на обработку персональных данных", "policy": "Политика",
    "operator": "Звонки совершает оператор {name}.", "countdown": "Перезвоним через {s} с",
    "pick_time": "Выберите время:", "scheduled": "Позвоним {time}", "sending": "Отправка…",
    "phone_incomplete": "Введите номер полностью",
    "status": {"received": "Заявка принята", "scheduled": "Запланировано", "queued": "В очереди",
               "dialing": "Звоним менеджеру", "manager_answered": "Менеджер ответил", "connected": "Соединено",
               "completed": "Звонок завершён", "passive": "Передано менеджерам", "expired": "Не успели",
               "rejected": "Не можем позвонить"},
    "outcome": {"success": "Спасибо!", "manager_no_answer": "Менеджеры заняты", "client_no_answer": "Не дозвонились",
                "failed": "Ошибка"},
    "errors": {"invalid_phone": "Проверьте номер", "consent_required": "Нужно согласие", "network": "Нет связи"},
}

# Short arming times so the tests need not wait 5 or 15 seconds.
BASE_CONFIG = {
    "site": KEY, "lang": "ru", "mode": "instant", "eta_seconds": 28,
    "texts": {"title": "Перезвоним за 28 секунд", "body": "Оставьте номер", "button": "Жду звонка"},
    "design": {"accent_color": "#e30611", "text_color": "#1d2433", "background_color": "#ffffff",
               "position": "bottom-right"},
    "scenarios": [{"id": "exit_intent", "devices": ["desktop", "touch"], "when": [[["exit", "eq", True]]],
                   "texts": {"title": "Уже уходите?"}, "design": {}}],
    "rules": [],
    "exit": {"desktop": {"armed_after_s": 1, "top_px": 20},
             "touch": {"armed_after_s": 1, "min_scroll_pct": 40, "scroll_up_vh": 25, "is_scroll_up": True,
                       "hidden_s": 1, "is_tab_return": True, "idle_s": 0}},
    "offices": [],
    "countries": {"default": "RU",
                  "allowed": [{"code": "RU", "name": "Россия", "dial": "7", "template": "### ###-##-##"}]},
    "operator": {"name": "МТТ", "url": "https://www.mtt.ru"},
    "consent": {"text": "Длинный текст согласия\nвторая строка", "version": "a1b2c3d4e5f6",
                "policy_url": "https://example.com/policy"},
    "schedule": {"is_open": True, "timezone": "Europe/Moscow", "slots": []},
    "analytics": {"metrika_counter_id": 12345},
    "strings": STRINGS,
}
CREATED = {"id": 17, "status_token": "tok", "mode": "instant", "eta_seconds": 5, "scheduled_for": None}
STATUSES = [{"status": "dialing"}, {"status": "manager_answered"}, {"status": "connected"},
            {"status": "completed", "outcome": "success", "duration_s": 30}]

# A hostile host page: global styles that must not reach the popup, and its own input.
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>* {{ color: green !important; font-size: 30px; }} dialog {{ display: none }}
input {{ border: 5px solid lime; width: 200px }} body {{ margin: 0 }}</style>
</head><body><h1>Host page</h1><input id="own"><div style="height:{height}px">content</div>
<script async src="/widget.js" {attrs}></script></body></html>"""


class FakeApi:
    """What the fake serves (tests change it) and what it received."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.config = copy.deepcopy(BASE_CONFIG)
        self.config_status = 200
        self.created = (201, dict(CREATED))
        self.callbacks, self.events, self.status_reads, self.paths = [], [], [], []


def serve(api: FakeApi) -> ThreadingHTTPServer:
    """Start serving `api` on a free loopback port in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            api.paths.append(url.path)
            if url.path == "/widget.js":
                return self.answer(200, WIDGET.read_bytes(), "text/javascript")
            if url.path == "/page":
                attrs = query.get("attrs", [f'data-site="{KEY}"'])[0]
                page = PAGE.format(height=query.get("h", ["3000"])[0], attrs=attrs)
                return self.answer(200, page.encode(), "text/html; charset=utf-8")
            if url.path == f"/api/v1/widget/{KEY}":
                if api.config_status != 200:
                    return self.answer(api.config_status, {"error": {"code": "site_inactive", "message": "off"}})
                return self.answer(200, api.config)
            if url.path == "/api/v1/callbacks/17":
                api.status_reads.append(query)
                status = STATUSES[min(len(api.status_reads), len(STATUSES)) - 1]
                return self.answer(200, {"id": 17, "mode": "instant", "scheduled_for": None, "outcome": None,
                                         "duration_s": None, **status})
            return self.answer(404, {"error": {"code": "not_found", "message": "not found"}})

        def do_POST(self):
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            api.paths.append(url.path)
            if url.path == f"/api/v1/widget/{KEY}/callbacks":
                api.callbacks.append((dict(self.headers), body))
                return self.answer(*api.created)
            if url.path == f"/api/v1/widget/{KEY}/events":
                api.events.append((self.headers.get("Content-Type"), body))
                return self.answer(204, b"")
            return self.answer(404, {"error": {"code": "not_found", "message": "not found"}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="fake-api", daemon=True).start()
    return server
