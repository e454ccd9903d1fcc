"""The public JSON API under /api/v1 (A1): widget configuration, callback requests, their status, widget events."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import views  # noqa: E402,F401  (routes register on import)
