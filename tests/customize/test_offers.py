"""The offer catalogue: loading, editing, and bad input refused with the store unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.customize import (
    create_offer,
    delete_offer,
    get_offer,
    list_offers,
    load_offers,
    update_offer,
)
from patron.customize.eligibility import check_eligibility, evaluate
from patron.errors import DataError, NotFoundError, UsageError
from patron.store import Store

GOOD = """
offers:
  - id: books-x
    name: Books for readers
    kind: cross-sell
    category: books
    eligibility: segment == 'readers' and clv > 10
    channels: [email, phone]
    contact_cost: {email: 0.05, phone: 2.5}
    margin: 6.0
    price: 20
    valid_from: 2026-01-01
    valid_to: 2026-12-31
    max_per_customer: 2
    response_rate: 0.04
  - id: winback
    name: Come back
    kind: reactivation
    margin_rate: 0.3
    price: 15
    channels: email
    eligibility: days_since_purchase > 90
"""


def write(tmp_path: Path, text: str, name: str = "offers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_list_show_edit_remove(store: Store, tmp_path: Path) -> None:
    loaded = load_offers(store, write(tmp_path, GOOD))
    assert [o.id for o in loaded] == ["books-x", "winback"]
    offers = list_offers(store)
    assert [o.id for o in offers] == ["books-x", "winback"]
    books = get_offer(store, "books-x")
    assert books.channels == ("email", "phone")
    assert books.contact_cost == {"email": 0.05, "phone": 2.5}
    assert books.max_per_customer == 2
    assert str(books.valid_to) == "2026-12-31"
    assert get_offer(store, "winback").unit_margin() == pytest.approx(4.5)
    changed = update_offer(store, "books-x", {"margin": 7.5})
    assert changed.margin == 7.5
    assert get_offer(store, "books-x").margin == 7.5
    made = create_offer(
        store, {"id": "svc", "name": "Check-up call", "kind": "service", "margin": 0}
    )
    assert made.consent_purpose == "service"
    with pytest.raises(UsageError, match="exists already"):
        create_offer(store, {"id": "svc", "name": "again", "kind": "service", "margin": 0})
    delete_offer(store, "svc")
    with pytest.raises(NotFoundError, match="No offer 'svc'"):
        get_offer(store, "svc")


def test_csv_file(store: Store, tmp_path: Path) -> None:
    text = (
        "id,name,kind,category,channels,contact_cost,margin,eligibility,uplift_by_segment\n"
        "g1,Games,cross-sell,games,email;sms,email=0.1;sms=0.2,5,tier == 'MGC',gamers=0.05\n"
    )
    (offer,) = load_offers(store, write(tmp_path, text, "offers.csv"))
    assert offer.channels == ("email", "sms")
    assert offer.contact_cost == {"email": 0.1, "sms": 0.2}
    assert offer.uplift_by_segment == {"gamers": 0.05}
    assert offer.response("gamers")[0] == 0.05


A = "  - {id: a, name: A, kind: cross-sell, margin: 1, "
BAD = [
    (
        "  - {id: a, name: A, kind: cross-sell, margin: 1, colour: red}",
        r"unknown field\(s\) colour",
    ),
    (
        "  - {id: a, name: A, kind: cross-sell, margin: 1, eligibility: 'clv >'}",
        r"offer 'a'.*column",
    ),
    (
        A + "eligibility: 'tier == 1 and wealth > 3'}",
        r"offer 'a' eligibility: unknown attribute 'wealth' at column 15",
    ),
    (
        "  - {id: a, name: A, kind: cross-sell, margin: 1, contact_cost: {email: -1}}",
        r"contact_cost for email must be 0 or more",
    ),
    (
        "  - {id: a, name: A, kind: cross-sell, margin: 1, valid_from: 2026-05-01, "
        "valid_to: 2026-04-01}",
        r"valid_to 2026-04-01 is before valid_from 2026-05-01",
    ),
    ("  - {id: a, name: A, kind: upsell, margin: 1}", r"kind 'upsell' is not one of"),
    ("  - {id: a, name: A, kind: cross-sell}", r"give its margin"),
    (
        "  - {id: a, name: A, kind: cross-sell, margin: 1, eligibility: '__import__(\"os\")'}",
        r"is not allowed",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_offer_changes_nothing(store: Store, tmp_path: Path, line: str, message: str) -> None:
    load_offers(store, write(tmp_path, GOOD))
    before = [o.to_dict() for o in list_offers(store)]
    text = "offers:\n  - {id: fine, name: Fine, kind: loyalty, margin: 2}\n" + line + "\n"
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(DataError, match=message) as info:
        load_offers(store, path)
    assert "bad.yaml, offer 2" in str(info.value)
    assert [o.to_dict() for o in list_offers(store)] == before


def test_unknown_attribute_allowed_once_the_question_bank_knows_it(
    store: Store, tmp_path: Path
) -> None:
    from patron.interact import example_question_bank, install_question_bank, load_question_bank

    text = "- {id: a, name: A, kind: cross-sell, margin: 1, eligibility: \"buys_gifts == 'yes'\"}\n"
    with pytest.raises(DataError, match="unknown attribute 'buys_gifts'"):
        load_offers(store, write(tmp_path, text))
    install_question_bank(store, load_question_bank(example_question_bank()), source="t")
    (offer,) = load_offers(store, write(tmp_path, text))
    assert offer.eligibility == "buys_gifts == 'yes'"


def test_python_evaluation_has_sql_null_logic() -> None:
    rule = check_eligibility("clv > 10 and tier in ('MVC', 'MGC')")
    assert rule({"clv": 20.0, "tier": "MVC"}) is True
    assert rule({"clv": 5.0, "tier": "MVC"}) is False
    assert rule({"clv": None, "tier": "MVC"}) is False  # null: not eligible
    assert evaluate(rule, {"clv": None, "tier": "MVC"}) is None
    assert evaluate(check_eligibility("clv > 1 or tier == 'MVC'"), {"tier": "MVC"}) is True
    assert check_eligibility("not (x == 'a')")({"x": "b"}) is True
    assert check_eligibility("segment.contains('read')")({"segment": "readers"}) is True
    assert check_eligibility("coalesce(clv, 0) * 2 >= 4")({"clv": "2"}) is True
    with pytest.raises(UsageError, match="not a condition"):
        check_eligibility("clv * 2")
    with pytest.raises(UsageError, match="Use =="):
        check_eligibility("tier = 'MVC'")


EXPRESSIONS = [
    "clv > 100 and tier in ('MVC', 'MGC')",
    "not (segment == 'books') or p_alive < 0.3",
    "coalesce(clv, 0) * 2 - 10 >= p_alive * 100",
    "tier not in ('BZ') and (clv / 2 > 20 or segment.startswith('ga'))",
    "segment.lower().contains('o') and -clv < -50",
    "days == '12' or clv != 0",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_python_and_engine_agree(text: str) -> None:
    """The real-time evaluation means what the batch's compile_expression means in DuckDB."""
    import ibis
    import numpy as np

    from patron.data.expressions import compile_expression

    rng = np.random.default_rng(len(text))
    n = 300
    clv = [None if rng.random() < 0.1 else float(rng.uniform(-50, 400)) for _ in range(n)]
    data = {
        "clv": clv,
        "p_alive": [None if rng.random() < 0.1 else float(rng.random()) for _ in range(n)],
        "tier": [rng.choice(["MVC", "MGC", "BZ", "other", None]) for _ in range(n)],
        "segment": [rng.choice(["books", "games", "Home", None]) for _ in range(n)],
        "days": [rng.choice(["12", "7", "x", None]) for _ in range(n)],
    }
    table = ibis.memtable(data)
    con = ibis.duckdb.connect()
    expr = compile_expression(text, table, condition=True).fill_null(False)
    engine = con.execute(table.select(ok=expr)).ok.tolist()
    rule = check_eligibility(text)
    rows = [{k: data[k][i] for k in data} for i in range(n)]
    python = [rule(r) for r in rows]
    walked = [evaluate(rule, r) is True for r in rows]
    assert python == walked
    assert python == [bool(x) for x in engine]
    assert 0 < sum(python) < n  # the expression splits the sample
