from __future__ import annotations

from typing import Any

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.data import connect
from patron.data.warehouse import Warehouse
from patron.identity import fold_text, normalise_card, normalise_email, normalise_phone
from patron.identity.normalise import normalised_lookup


@pytest.mark.parametrize(
    ("raw", "value", "status"),
    [
        ("  Ann.Smith@Example.co.uk ", "ann.smith@example.co.uk", "valid"),
        ("BOB@x.org", "bob@x.org", "valid"),
        ("not-an-email", None, "invalid"),
        ("a@@b.com", None, "invalid"),
        ("ann@localhost", None, "invalid"),
        ("test@test.com", None, "placeholder"),
        ("noemail@gmail.com", None, "placeholder"),
        ("someone@example.com", None, "placeholder"),
        ("n/a", None, "placeholder"),
        ("", None, "placeholder"),
    ],
)
def test_email(raw: str, value: str | None, status: str) -> None:
    result = normalise_email(raw)
    assert (result.value, result.status) == (value, status)


@pytest.mark.parametrize(
    ("raw", "region", "value", "status"),
    [
        ("07700 900123", "GB", "+447700900123", "valid"),
        ("+44 (0)7700-900123", "GB", "+447700900123", "valid"),
        ("0044 7700 900123", "GB", "+447700900123", "valid"),
        ("(202) 555-0143", "US", "+12025550143", "valid"),
        ("+1 202 555 0143", "GB", "+12025550143", "valid"),
        ("12", "GB", None, "invalid"),
        ("call me", "GB", None, "invalid"),
        ("0000000000", "GB", None, "placeholder"),
        ("+44 0000 000000", "GB", None, "placeholder"),
        ("1234567890", "US", None, "placeholder"),
        ("N/A", "GB", None, "placeholder"),
    ],
)
def test_phone(raw: str, region: str, value: str | None, status: str) -> None:
    result = normalise_phone(raw, region)
    assert (result.value, result.status) == (value, status)


@pytest.mark.parametrize(
    ("raw", "value", "status"),
    [
        ("6331 2904-1190", "633129041190", "valid"),
        ("ab-12/34", "AB1234", "valid"),
        ("0000-0000", None, "placeholder"),
        ("12", None, "invalid"),
        ("12#45", None, "invalid"),
        ("none", None, "placeholder"),
    ],
)
def test_card(raw: str, value: str | None, status: str) -> None:
    result = normalise_card(raw)
    assert (result.value, result.status) == (value, status)


def test_fold_text_in_the_engine(wh: Warehouse) -> None:
    raw = ibis.memtable({"v": ["  Zoë  O'Brien ", "MÜLLER-Łódź-İzmir", "n/a", "", None, "Ça va"]})
    folded = wh.con.to_pyarrow(raw.select(f=fold_text(raw.v))).column("f").to_pylist()
    assert folded == ["zoe o brien", "muller lodz izmir", None, None, None, "ca va"]


# -- the engine's share of the work agrees with the libraries ------------------------------

EMAIL_ALPHABET = "abcXYZ09._+-@!é "


def _engine(wh: Warehouse, kind: str, values: list[str]) -> dict[str, tuple[str | None, str]]:
    column = ibis.memtable({"v": values}, schema={"v": "string"}).v
    created: list[str] = []
    table = normalised_lookup(wh, column, kind, "GB", created)
    rows = wh.con.to_pyarrow(table).to_pylist()
    for name in created:
        wh.drop(name)
    return {r["raw"]: (r["value"], r["status"]) for r in rows}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda a, b, c: f"{a}@{b}.{c}",
            st.text(EMAIL_ALPHABET, min_size=0, max_size=8),
            st.text("abc-09.", min_size=0, max_size=8),
            st.sampled_from(["org", "co", "c0m", "test", "x", "museum", "Org"]),
        )
        | st.text(EMAIL_ALPHABET, max_size=10),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_engine_emails_agree_with_email_validator(tmp_path_factory: Any, values: list[str]) -> None:
    with connect(f"duckdb://{tmp_path_factory.mktemp('e') / 'w.duckdb'}") as wh:
        got = _engine(wh, "email", values)
    for raw in values:
        if not raw.strip():
            continue  # the loader stores empty text as null
        expected = normalise_email(raw)
        assert got[raw] == (expected.value, expected.status), raw


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.text("0123456789 .-+()x", min_size=1, max_size=16),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_phone_digits_key_reads_as_the_raw_number(tmp_path_factory: Any, values: list[str]) -> None:
    with connect(f"duckdb://{tmp_path_factory.mktemp('p') / 'w.duckdb'}") as wh:
        got = _engine(wh, "phone", values)
    for raw in values:
        expected = normalise_phone(raw, "GB")
        assert got[raw] == (expected.value, expected.status), raw


def test_engine_cards_agree_with_normalise_card(wh: Warehouse) -> None:
    values = ["6331 2904-1190", "ab-12/34", "0000-0000", "12", "12#45", "none", "AAAA", "a.b.c.d.e"]
    got = _engine(wh, "card", values)
    for raw in values:
        expected = normalise_card(raw)
        assert got[raw] == (expected.value, expected.status), raw


def test_values_are_normalised_in_pages_and_cached(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patron.identity.normalise as normalise

    monkeypatch.setattr(normalise, "BATCH_ROWS", 3)
    calls: list[str] = []
    real = normalise.normaliser

    def counting(kind: str, region: str) -> Any:
        fn = real(kind, region)

        def wrapped(value: str) -> Any:
            calls.append(value)
            return fn(value)

        return wrapped

    monkeypatch.setattr(normalise, "normaliser", counting)
    phones = [f"07700 9001{i:02d}" for i in range(10)] + [f"077009001{i:02d}" for i in range(10)]
    got = _engine(wh, "phone", phones)
    assert all(got[p][1] == "valid" for p in phones)  # every page was read
    assert len(calls) == 10  # one parse per number, however it was written
    again = _engine(wh, "phone", [*phones, "07700 900200"])
    assert len(calls) == 11  # the cache holds the others
    assert again["07700 900200"] == ("+447700900200", "valid")
