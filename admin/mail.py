"""What the local SMTP catcher received (the embedded default), so a demo user can read every e-mail; and the
SMS sent (our `sms_message` rows and, with the MTT sandbox, what the sandbox's SendSms received)."""
from __future__ import annotations

import email
import email.policy
import mailbox
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import abort, current_app
from flask_admin import expose

from admin.base import SecureBaseView
from app.extensions import db
from app.models import SmsMessage

PAGE_SIZE = 50


def _maildir() -> mailbox.Maildir | None:
    path = Path(current_app.config["MAIL_CATCHER_DIR"])
    return mailbox.Maildir(str(path), create=False) if (path / "cur").is_dir() else None


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def _summary(key: str, message) -> dict:
    return {"key": key, "subject": message["subject"], "to": message["to"], "date": message["date"]}


def _newest_first(box: mailbox.Maildir) -> list[tuple[str, object]]:
    # Maildir names start with the delivery time, so sorting the names sorts the mail.
    keys = sorted(box.keys(), key=lambda k: float(k.split(".", 1)[0]) if k[0].isdigit() else 0.0, reverse=True)
    return [(k, _parse(box.get_bytes(k))) for k in keys[:PAGE_SIZE]]


def _sent_sms() -> list[SmsMessage]:
    return list(db.session.scalars(sa.select(SmsMessage).order_by(SmsMessage.id.desc()).limit(PAGE_SIZE)))


def _sandbox_sms() -> list[dict] | None:
    """The SMS the MTT sandbox received, newest first; None without a sandbox or when it does not answer."""
    if not current_app.config["MTT_IS_SANDBOX"]:
        return None
    api = urlsplit(current_app.config["MTT_API_URL"])
    try:
        response = requests.get(f"{api.scheme}://{api.netloc}/_sandbox/state", timeout=2)
        response.raise_for_status()
        return list(reversed(response.json()["sms"]))[:PAGE_SIZE]
    except (requests.RequestException, ValueError, KeyError):
        return None


class MailCatcherView(SecureBaseView):
    permission_key = "backoffice.admin"

    @expose("/")
    def index(self):
        box = _maildir()
        messages = [_summary(k, m) for k, m in _newest_first(box)] if box is not None else []
        return self.render("admin/mailbox.html", messages=messages, catcher_dir=current_app.config["MAIL_CATCHER_DIR"],
                           sms=_sent_sms(), sandbox_sms=_sandbox_sms(),
                           is_mtt_sandbox=current_app.config["MTT_IS_SANDBOX"])

    @expose("/<key>")
    def show(self, key: str):
        box = _maildir()
        if box is None or key not in box:
            abort(404)
        message = _parse(box.get_bytes(key))
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        return self.render("admin/mail_message.html", message=message,
                           text=text.get_content() if text else "", html=html.get_content() if html else "")
