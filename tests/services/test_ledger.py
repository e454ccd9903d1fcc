"""The ledger core (B9): balanced keyed postings, exact balances under concurrent writers, keys post once."""
from __future__ import annotations

import multiprocessing
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, LedgerEntry, LedgerTransaction
from app.services import ledger
from app.services.ledger import LedgerError

pytestmark = pytest.mark.backends


def _account(company="Ledger Co") -> int:
    account = Account(client_code=f"T{company[:6]}", company=company)
    db.session.add(account)
    db.session.commit()
    return account.id


def _top_up(account_id: int, key: str, amount: int):
    return ledger.post(key, "adjust", [(ledger.client_account(account_id), amount),
                                       (ledger.system_account("system:cash"), -amount)])


def test_posting_moves_money_and_balances_sum_to_zero(app_ctx, backend):
    account_id = _account()
    posted = _top_up(account_id, "adjust:a1", 12_345)
    db.session.commit()
    assert posted.created
    assert ledger.balance(account_id) == 12_345
    assert sorted(e.amount_kop for e in posted.transaction.entries) == [-12_345, 12_345]
    assert ledger.integrity_problems() == []


def test_a_repeated_key_posts_nothing_twice(app_ctx, backend):
    account_id = _account()
    first = _top_up(account_id, "adjust:same", 500)
    db.session.commit()
    again = _top_up(account_id, "adjust:same", 500)
    db.session.commit()
    assert first.created and not again.created
    assert again.transaction.id == first.transaction.id
    assert ledger.balance(account_id) == 500
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 2


@pytest.mark.parametrize("legs, message", [
    ([(0, 100), (1, -99)], "do not sum to zero"),
    ([(0, 100.0), (1, -100.0)], "integer kopecks"),
    ([(0, 100), (0, -100)], "at least two"),
])
def test_unbalanced_or_inexact_postings_are_refused(app_ctx, backend, legs, message):
    account_id = _account()
    accounts = [ledger.client_account(account_id), ledger.system_account("system:cash")]
    with pytest.raises(LedgerError, match=message):
        ledger.post("adjust:bad", "adjust", [(accounts[i], amount) for i, amount in legs])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 0


def test_balance_of_an_account_without_postings_is_zero(app_ctx, backend):
    assert ledger.balance(_account()) == 0


def _post_many(app, account_id: int, prefix: str, count: int, amount: int, errors: list):
    try:
        with app.app_context():
            for i in range(count):
                _top_up(account_id, f"{prefix}:{i}", amount)
                db.session.commit()
            db.session.remove()
    except Exception as exc:  # surfaced by the test, never swallowed
        errors.append(exc)


def test_concurrent_threads_give_the_exact_balance(app, backend):
    with app.app_context():
        account_id = _account()
    errors: list = []
    threads = [threading.Thread(target=_post_many, args=(app, account_id, f"adjust:t{n}", 25, 7, errors))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        assert ledger.balance(account_id) == 8 * 25 * 7
        assert ledger.integrity_problems() == []


def test_the_same_key_from_many_threads_posts_once(app, backend):
    with app.app_context():
        account_id = _account()
    barrier = threading.Barrier(8)
    results, errors = [], []

    def race():
        try:
            with app.app_context():
                barrier.wait()
                results.append(_top_up(account_id, "call:1:1", -300).created)
                db.session.commit()
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(True) == 1
    with app.app_context():
        assert ledger.balance(account_id) == -300
        assert ledger.integrity_problems() == []


def _process_worker(database_url: str, instance: str, account_id: int, prefix: str) -> None:
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance,
                      "SECRET_KEY": "x", "HUEY_IMMEDIATE": True})
    errors: list = []
    _post_many(app, account_id, prefix, 20, 3, errors)
    # A repeated key from another process posts nothing.
    _post_many(app, account_id, "adjust:shared", 1, 1000, errors)
    if errors:
        raise SystemExit(repr(errors))


def test_concurrent_processes_give_the_exact_balance(app, backend, database_url, tmp_path):
    with app.app_context():
        account_id = _account()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(database_url, str(tmp_path), account_id, f"adjust:p{n}"))
             for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    with app.app_context():
        assert ledger.balance(account_id) == 4 * 20 * 3 + 1000
        assert ledger.integrity_problems() == []
