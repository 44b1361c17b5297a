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


PHONE_REGIONS = ["GB", "US", "DE", "FR", "IT", "AU", "IE", "IN", "BR", "GG"]


@st.composite
def written_phones(draw: st.DrawFn, region: str) -> str:
    """Numbers as people write them: a prefix the region's parser treats specially, digits."""
    import phonenumbers

    cc = str(phonenumbers.country_code_for_region(region))
    prefix = draw(
        st.sampled_from(
            ["", "0", "00", "1", "011", "180020", cc, f"+{cc}", f"+{cc}0", f"+{cc} (0)", "(0", "+1"]
        )
    )
    digits = draw(st.text("0123456789", min_size=1, max_size=14))
    text = prefix + digits
    cut = draw(st.integers(0, len(text)))
    sep = draw(st.sampled_from(["", " ", "-", ".", ") "]))
    return (text[:cut] + sep + text[cut:]).strip() or "1"


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(PHONE_REGIONS).flatmap(
        lambda r: st.tuples(st.just(r), st.lists(written_phones(r), max_size=40, unique=True))
    )
)
def test_engine_phones_agree_with_phonenumbers(region_values: tuple[str, list[str]]) -> None:
    """Number for number, what the engine decides is what ``normalise_phone`` says."""
    from patron.identity.normalise import engine_identifiers

    region, values = region_values
    t = ibis.memtable({"raw": values}, schema={"raw": "string"})
    decided = engine_identifiers(t, {"phone": "raw"}, region)
    rows = ibis.duckdb.connect().to_pyarrow(decided).to_pylist()
    for row in rows:
        if row["phone_status"] is None:
            continue  # left to Python
        expected = normalise_phone(row["raw"], region)
        got = (row["phone"], row["phone_status"])
        assert got == (expected.value, expected.status), (region, row["raw"])


@pytest.mark.parametrize(
    ("region", "raw", "value"),
    [
        ("GB", "07700 900123", "+447700900123"),
        ("GB", "+44 7700 900123", "+447700900123"),
        ("GB", "(07700) 900-123", "+447700900123"),
        ("GB", "020 7946 0018", "+442079460018"),
        ("US", "(202) 555-0143", "+12025550143"),
        ("DE", "030 12345678", "+493012345678"),
    ],
)
def test_the_engine_reads_the_common_forms_itself(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, region: str, raw: str, value: str
) -> None:
    """National and international forms of the region's own numbers never reach Python."""
    import patron.identity.normalise as normalise

    def refuse(kind: str, region: str) -> Any:
        def parse(value: str) -> Any:
            raise AssertionError(f"{value!r} went to Python")

        return parse

    monkeypatch.setattr(normalise, "normaliser", refuse)
    column = ibis.memtable({"v": [raw]}, schema={"v": "string"}).v
    created: list[str] = []
    rows = wh.con.to_pyarrow(normalised_lookup(wh, column, "phone", region, created)).to_pylist()
    assert rows == [{"raw": raw, "value": value, "status": "valid"}]


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("email", "jo@\u0301test.com"),  # a combining mark after the @
        ("email", "test@\u0301x.org"),
        ("email", "jo@" + "b" * 64 + ".com"),  # a domain label over 63 characters
        ("email", "jo@" + "b" * 63 + ".com"),
        ("card", "\u00e9cole12"),
        ("card", "1234\u00a05678"),  # a no-break space
        ("card", "\u00e9\u00e9\u00e9\u00e9"),
        ("card", " 6331-2904 "),
    ],
)
def test_engine_agrees_on_awkward_values(wh: Warehouse, kind: str, raw: str) -> None:
    got = _engine(wh, kind, [raw])[raw]
    expected = normalise_email(raw) if kind == "email" else normalise_card(raw)
    assert got == (expected.value, expected.status)


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
    # Numbers of another country go to Python (the engine reads the region's own).
    phones = [f"+1 202 555 01{i:02d}" for i in range(10)] + [
        f"+1202555-01{i:02d}" for i in range(10)
    ]
    got = _engine(wh, "phone", phones)
    assert all(got[p][1] == "valid" for p in phones)  # every page was read
    assert len(calls) == 10  # one parse per number, however it was written
    again = _engine(wh, "phone", [*phones, "+1 202 555 0200"])
    assert len(calls) == 11  # the cache holds the others
    assert again["+1 202 555 0200"] == ("+12025550200", "valid")
