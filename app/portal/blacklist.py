"""The account's own blacklist in the cabinet (D13), when a manager opened `widget.blacklist.edit`. Global
entries (no account) are never listed, changed or deleted here. Values are normalised by
`services.blacklist.normalise`, as in the back office."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.extensions import db
from app.guards import requires_running_service
from app.models import BlacklistEntry
from app.portal import bp, require_feature
from app.services import blacklist
from app.services.phones import display

FEATURE = "widget.blacklist.edit"


class EntryForm(FlaskForm):
    kind = SelectField(_l("Type"), choices=[SelectChoice("number", _l("Phone number")),
                                            SelectChoice("ip", _l("IP address"))])
    value = StringField(_l("Number or IP address"), validators=[DataRequired(), Length(max=64)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


def _own_entries(account_id: int) -> list[BlacklistEntry]:
    return db.session.scalars(sa.select(BlacklistEntry).where(BlacklistEntry.account_id == account_id)
                              .order_by(BlacklistEntry.kind, BlacklistEntry.value)).all()


def _add(form: EntryForm, account_id: int) -> bool:
    """Store the entry; False with the error on the value field (nothing stored) when it is refused."""
    try:
        value = blacklist.normalise(form.kind.data, form.value.data)
    except blacklist.BlacklistError as exc:
        form.value.errors.append(str(exc))
        return False
    exists = sa.select(BlacklistEntry.id).where(BlacklistEntry.account_id == account_id,
                                                BlacklistEntry.kind == form.kind.data, BlacklistEntry.value == value)
    if db.session.scalar(exists) is not None:
        form.value.errors.append(_("%(value)s is already in the list.", value=value))
        return False
    db.session.add(BlacklistEntry(account_id=account_id, kind=form.kind.data, value=value,
                                  note=(form.note.data or "").strip()))
    db.session.commit()
    flash(_("%(value)s has been added to the blacklist.", value=value), "success")
    return True


@bp.route("/blacklist", methods=["GET", "POST"])
@login_required
@requires_running_service
def blacklist_page():
    account = require_feature(FEATURE)
    form = EntryForm()
    if form.validate_on_submit() and _add(form, account.id):
        return redirect(url_for(".blacklist_page"))
    return render_template("portal/blacklist.html", form=form, entries=_own_entries(account.id), display=display)


@bp.post("/blacklist/<int:entry_id>/delete")
@login_required
@requires_running_service
def blacklist_delete(entry_id: int):
    """Remove one of the account's own entries; a global entry or another account's is not found."""
    account = require_feature(FEATURE)
    entry = db.session.get(BlacklistEntry, entry_id)
    if entry is None or entry.account_id != account.id:
        abort(404)
    db.session.delete(entry)
    db.session.commit()
    flash(_("%(value)s has been removed from the blacklist.", value=entry.value), "success")
    return redirect(url_for(".blacklist_page"))
