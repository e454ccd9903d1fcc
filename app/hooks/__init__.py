"""Provider callbacks (webhooks): machine-to-machine endpoints, outside CSRF, each checking its own sender."""
from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
csrf.exempt(bp)

from app.hooks import mtt, yookassa  # noqa: E402,F401  (routes)
