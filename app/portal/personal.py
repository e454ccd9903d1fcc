"""Personal settings (C4): the client ID, the e-mail the user logs in with, the way to change the password."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from app.extensions import db
from app.guards import requires_running_service
from app.portal import bp, require_feature
from app.services.accounts import AccountError
from app.services.email_change import change_email

FEATURE = "account.personal.edit"


class EmailChangeForm(FlaskForm):
    email = EmailField(_l("New e-mail"), validators=[DataRequired(), Length(max=254)])
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])


@bp.route("/personal", methods=["GET", "POST"])
@login_required
@requires_running_service
def personal_page():
    account = require_feature(FEATURE)
    form = EmailChangeForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            old = change_email(user, form.current_password.data, form.email.data)
        except AccountError as exc:
            db.session.rollback()
            field = form.current_password if exc.code == "wrong_password" else form.email
            field.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Your e-mail is now %(new)s (it was %(old)s). Use the new address to log in.",
                    new=user.email, old=old), "success")
            return redirect(url_for(".personal_page"))
    return render_template("portal/personal.html", account=account, user=user, form=form)
