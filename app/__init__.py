"""The application factory: a table of contents of what the web process is made of."""
from __future__ import annotations

from flask import Flask

from app import config as app_config


def create_app(overrides: dict | None = None) -> Flask:
    settings = app_config.from_env()
    settings.update(overrides or {})
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    from app import setup

    setup.register_extensions(app)
    setup.register_security(app)
    setup.register_i18n(app)
    setup.register_assets(app)
    setup.register_blueprints(app)
    setup.register_error_handlers(app)
    setup.register_cli(app)
    setup.register_admin(app)
    setup.register_worker(app)
    return app
