"""Manager lines in the cabinet (D1), when a manager opened `widget.lines.edit`: the account's own lines only,
checked by the same `services.lines.check_line` as the back office. Every POST carries the CSRF token
(the app's CSRFProtect refuses it otherwise)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.extensions import db
from app.forms.schema_form import CheckboxesField
from app.guards import requires_running_service
from app.models import Account, CallbackRequest, Department, ManagerLine
from app.portal import bp, require_feature
from app.services.lines import MAX_LINES_PER_ACCOUNT, LineError, check_line
from app.services.phones import display

FEATURE = "widget.lines.edit"
NO_DEPARTMENT = 0


class LineForm(FlaskForm):
    kind = SelectField(_l("Type"), choices=[SelectChoice("phone", _l("Phone")), SelectChoice("sip", "SIP")])
    country = StringField(_l("Country (two letters)"), default="RU", validators=[Optional(), Length(max=2)])
    number = StringField(_l("Number"), validators=[DataRequired(), Length(max=128)])
    extension = StringField(_l("Extension"), validators=[Optional(), Length(max=16)])
    manager_name = StringField(_l("Manager"), validators=[Optional(), Length(max=120)])
    department = SelectField(_l("Department"), coerce=int)
    is_active = BooleanField(_l("Active"), default=True)
    is_name_in_sms = BooleanField(_l("Manager's name in the SMS to the client"))
    is_routed_by_department = BooleanField(_l("Route calls by department"))
    is_for_all_sites = BooleanField(_l("For all sites"), default=True)
    sites = CheckboxesField(_l("Only for these sites"), coerce=int)


class DepartmentForm(FlaskForm):
    name = StringField(_l("New department"), validators=[DataRequired(), Length(max=120)])


def _departments(account_id: int) -> list[Department]:
    return db.session.scalars(sa.select(Department).where(Department.account_id == account_id)
                              .order_by(Department.name)).all()


def _line_form(account: Account, line: ManagerLine | None) -> LineForm:
    form = LineForm(obj=line) if line is not None else LineForm()
    form.department.choices = [(NO_DEPARTMENT, "—")] + [(d.id, d.name) for d in _departments(account.id)]
    form.sites.choices = [(site.id, site.name) for site in account.sites]
    if line is not None and not form.is_submitted():
        form.department.data = line.department_id or NO_DEPARTMENT
        form.sites.data = [site.id for site in line.sites]
    return form


def _own_line(account: Account, line_id: int) -> ManagerLine:
    line = db.session.get(ManagerLine, line_id)
    if line is None or line.account_id != account.id:
        abort(404)
    return line


def _fill(line: ManagerLine, form: LineForm, account: Account) -> None:
    """The form's values on the line; department and sites only among the account's (the choices)."""
    for name in ("kind", "number", "extension", "manager_name", "is_active", "is_name_in_sms",
                 "is_routed_by_department", "is_for_all_sites"):
        setattr(line, name, form[name].data)
    line.country = (form.country.data or "RU").strip().upper()
    line.department = db.session.get(Department, form.department.data) if form.department.data else None
    chosen = set(form.sites.data or [])
    line.sites = [site for site in account.sites if site.id in chosen]


def _save(form: LineForm, account: Account, line: ManagerLine | None) -> bool:
    """Check and store; False with the error on its field (nothing stored) when the line is refused."""
    with db.session.no_autoflush:
        target = line if line is not None else ManagerLine(account=account)
        _fill(target, form, account)
        try:
            check_line(target)
        except LineError as exc:
            db.session.rollback()
            getattr(form, exc.field, form.number).errors.append(str(exc))
            return False
    db.session.add(target)
    db.session.commit()
    return True


@bp.get("/lines")
@login_required
@requires_running_service
def lines_page():
    account = require_feature(FEATURE)
    return _lines_page(account, DepartmentForm(formdata=None))


def _lines_page(account: Account, department_form: DepartmentForm):
    lines = db.session.scalars(sa.select(ManagerLine).where(ManagerLine.account_id == account.id)
                               .order_by(ManagerLine.id)).all()
    return render_template("portal/lines.html", lines=lines, display=display, limit=MAX_LINES_PER_ACCOUNT,
                           departments=_departments(account.id), department_form=department_form)


@bp.post("/lines/departments")
@login_required
@requires_running_service
def department_new():
    """A department the account's lines (and the widget's office choice) can name; names are unique per account.
    Not deleted here: a site's settings may offer it to visitors."""
    account = require_feature(FEATURE)
    form = DepartmentForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        if name.casefold() in {d.name.casefold() for d in _departments(account.id)}:
            form.name.errors.append(_("The department %(name)s already exists.", name=name))
        else:
            db.session.add(Department(account_id=account.id, name=name))
            db.session.commit()
            flash(_("The department %(name)s has been added.", name=name), "success")
            return redirect(url_for(".lines_page"))
    return _lines_page(account, form)


@bp.route("/lines/new", methods=["GET", "POST"])
@login_required
@requires_running_service
def line_new():
    account = require_feature(FEATURE)
    form = _line_form(account, None)
    if form.validate_on_submit() and _save(form, account, None):
        flash(_("The manager line has been added."), "success")
        return redirect(url_for(".lines_page"))
    return render_template("portal/line_form.html", form=form, line=None)


@bp.route("/lines/<int:line_id>", methods=["GET", "POST"])
@login_required
@requires_running_service
def line_edit(line_id: int):
    account = require_feature(FEATURE)
    line = _own_line(account, line_id)
    form = _line_form(account, line)
    if form.validate_on_submit() and _save(form, account, line):
        flash(_("The manager line has been saved."), "success")
        return redirect(url_for(".lines_page"))
    return render_template("portal/line_form.html", form=form, line=line)


@bp.post("/lines/<int:line_id>/active")
@login_required
@requires_running_service
def line_switch(line_id: int):
    """Deactivate an active line (it is no longer rung) or activate an inactive one."""
    account = require_feature(FEATURE)
    line = _own_line(account, line_id)
    line.is_active = not line.is_active
    db.session.commit()
    flash(_("The line is active.") if line.is_active else _("The line is deactivated."), "success")
    return redirect(url_for(".lines_page"))


@bp.post("/lines/<int:line_id>/delete")
@login_required
@requires_running_service
def line_delete(line_id: int):
    account = require_feature(FEATURE)
    line = _own_line(account, line_id)
    if _has_answered(line):
        flash(_("This line has answered calls: deactivate it instead, so the call log keeps its name."), "error")
        return redirect(url_for(".lines_page"))
    db.session.delete(line)
    db.session.commit()
    flash(_("The manager line has been deleted."), "success")
    return redirect(url_for(".lines_page"))


def _has_answered(line: ManagerLine) -> bool:
    """Deleting such a line would take the manager's name and number out of the call log's past rows."""
    answered = sa.select(CallbackRequest.id).where(CallbackRequest.account_id == line.account_id,
                                                   CallbackRequest.answered_line_id == line.id)
    return db.session.scalar(answered.limit(1)) is not None
