"""Back office: the numbers the fraud guard blocks now (X1), and lifting a block.

A number is blocked for a day when it broke its per-number limit, for good when it broke it again after a block
(app.services.fraud). The list shows only the blocks in force; "Lift" frees the selected numbers.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash
from flask_admin import Admin
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin.journal import ReadOnlyView
from app.db import utcnow
from app.extensions import db
from app.models import NumberBlock
from app.services import fraud, phones

BLOCK_REASONS = [("limit_number", _l("Too many requests to the number"))]


def _phone(view, context, model: NumberBlock, name) -> str:
    return phones.display(model.phone)


def _until(view, context, model: NumberBlock, name) -> str:
    return str(_l("For good")) if model.until is None else model.until.strftime("%Y-%m-%d %H:%M UTC")


def _in_force():
    now = utcnow()
    return sa.and_(NumberBlock.lifted_at.is_(None), sa.or_(NumberBlock.until.is_(None), NumberBlock.until > now))


class NumberBlockView(ReadOnlyView):
    permission_key = "backoffice.accounts"
    column_default_sort = ("created_at", True)
    column_list = ["phone", "reason", "created_at", "until"]
    column_details_list = column_list
    column_export_list = column_list
    column_searchable_list = ["phone"]
    column_choices = {"reason": BLOCK_REASONS}
    column_labels = {"phone": _l("Number"), "reason": _l("Reason"), "created_at": _l("Blocked at"),
                     "until": _l("Blocked until")}
    column_formatters = {"phone": _phone, "until": _until}
    column_formatters_export = column_formatters

    def get_query(self):
        return super().get_query().filter(_in_force())

    def get_count_query(self):
        return super().get_count_query().filter(_in_force())

    @action("lift", _l("Lift the block"), _l("Allow calls to the selected numbers again?"))
    def action_lift(self, ids):
        chosen = [int(value) for value in ids if str(value).isdigit()]
        found = db.session.scalars(sa.select(NumberBlock).where(NumberBlock.id.in_(chosen), _in_force())).all()
        now = utcnow()
        for block in found:
            fraud.lift(block, current_user.id, now)
        db.session.commit()
        flash(_("Blocks lifted: %(count)d.", count=len(found)), "success")


def register(admin: Admin) -> None:
    admin.add_view(NumberBlockView(NumberBlock, name=_l("Blocked numbers"), endpoint="number_blocks",
                                   category=_l("Sites and calls")))
