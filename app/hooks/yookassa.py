"""`POST /hooks/yookassa`: YooKassa's HTTP notifications (the URL a live shop sets in its dashboard).

The body is unsigned, so: the sender's address must be one of YooKassa's networks (the SDK's list) or of
`YOOKASSA_TRUSTED_NETWORKS` (the sandbox), behind `PROXY_COUNT` proxies (ProxyFix); then the payment or
refund it names is fetched again from the API and applied (`payments.handle_notification`), never the body.

Answers: 403 foreign sender, 400 not a notification, 503 when YooKassa's API cannot be asked now (so YooKassa
delivers again, for up to 24 h), else 200 (also for an object that is not ours: delivering it again would not
change that). Applying is idempotent, so redeliveries and duplicates credit nothing twice.
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from app.extensions import db
from app.hooks import bp
from app.services import payments
from app.services.yookassa_gateway import is_trusted_ip

log = logging.getLogger(__name__)


@bp.post("/yookassa")
def yookassa():
    if not is_trusted_ip(request.remote_addr, current_app.config["YOOKASSA_TRUSTED_NETWORKS"]):
        log.warning("YooKassa notification from untrusted %s refused", request.remote_addr)
        return jsonify(error="forbidden"), 403
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_notification"), 400
    try:
        payments.handle_notification(body)
        db.session.commit()
    except payments.PaymentError as exc:
        db.session.rollback()
        if exc.code == "invalid_notification":
            return jsonify(error=exc.code), 400
        log.warning("YooKassa notification not processed now (%s): asking for redelivery", exc.code)
        return jsonify(error=exc.code), 503
    return jsonify(ok=True)
