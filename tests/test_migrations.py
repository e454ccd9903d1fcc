"""Migrations upgrade and downgrade on SQLite and PostgreSQL, and the models have no drift from them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db

pytestmark = pytest.mark.backends


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_downgrade_to_base_and_upgrade_again(app_ctx, backend):
    assert {"account", "app_user", "site", "setting", "ledger_account", "ledger_transaction",
            "ledger_entry", "notification"} <= _tables()
    downgrade(revision="base")
    assert _tables() == set()
    upgrade()
    assert "ledger_entry" in _tables()


def test_models_match_the_migrations(app_ctx, backend):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
        assert compare_metadata(context, db.metadata) == []


def test_every_revision_has_a_real_downgrade(backend):
    from pathlib import Path

    revisions = sorted(Path(__file__).parent.parent.joinpath("migrations", "versions").glob("*.py"))
    assert revisions
    for path in revisions:
        body = path.read_text().split("def downgrade():", 1)[1]
        assert body.strip() and not body.strip().startswith("pass"), path.name
