"""Sign-up, log-in and log-out, password change and reset by e-mail."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import views  # noqa: E402,F401
