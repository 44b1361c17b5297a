from __future__ import annotations

import ibis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.data.dates import guess_format, parse_timestamp
from patron.data.expressions import compile_expression
from patron.errors import UsageError


def run(expr: ibis.Expr) -> object:
    return ibis.duckdb.connect().execute(expr)


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("19970101", "%Y%m%d", "1997-01-01 00:00:00"),
        ("12/1/2010 8:26", "%m/%d/%Y %H:%M", "2010-12-01 08:26:00"),
        ("01.02.99", "%d.%m.%y", "1999-02-01 00:00:00"),
        ("01.02.05", "%d.%m.%y", "2005-02-01 00:00:00"),
        ("2024-01-02 03:04:05", None, "2024-01-02 03:04:05"),
    ],
)
def test_parse(text: str, fmt: str | None, expected: str) -> None:
    assert str(run(parse_timestamp(ibis.literal(text), fmt))) == expected


@pytest.mark.parametrize("text", ["19970230", "1997011", "x", "", "199701011"])
def test_unparseable_is_null(text: str) -> None:
    assert run(parse_timestamp(ibis.literal(text), "%Y%m%d")) is None or str(
        run(parse_timestamp(ibis.literal(text), "%Y%m%d"))
    ) in {"NaT", "None"}


@given(st.dates(min_value=__import__("datetime").date(1900, 1, 1)))
def test_roundtrip_any_date(day: object) -> None:
    text = day.strftime("%d/%m/%Y")  # type: ignore[attr-defined]
    assert str(run(parse_timestamp(ibis.literal(text), "%d/%m/%Y")))[:10] == str(day)


def test_guess_format() -> None:
    assert guess_format(["19970101", "19971231"]) == "%Y%m%d"
    assert guess_format(["2024-01-02", "2024-01-03 10:00"]) is None
    assert guess_format(["13/01/2024 10:00", "01/02/2024 11:00"]) == "%d/%m/%Y %H:%M"
    with pytest.raises(UsageError, match="ambiguous"):
        guess_format(["01/02/2024"])
    with pytest.raises(UsageError, match="Cannot tell the date format of 'timestamp'"):
        guess_format(["yesterday"])


def test_bad_format_directive() -> None:
    with pytest.raises(UsageError, match="directive %Q is not supported"):
        parse_timestamp(ibis.literal("x"), "%Y%Q")
    with pytest.raises(UsageError, match="needs a year"):
        parse_timestamp(ibis.literal("x"), "%H:%M")


def test_expressions() -> None:
    t = ibis.memtable({"Qty": ["2", "3"], "Unit Price": ["1.5", "£2"], "Inv": ["1", "C2"]})
    amount = compile_expression('Qty * col("Unit Price")', t)
    assert run(t.select(a=amount)).a.tolist() == [3.0, 6.0]
    flag = compile_expression("Inv.startswith('C') or Qty > 2", t)
    assert run(t.select(f=flag)).f.tolist() == [False, True]
    with pytest.raises(UsageError, match="no column 'Price'; the file has: Qty, Unit Price, Inv"):
        compile_expression("Qty*Price", t)
    with pytest.raises(UsageError, match="is not allowed"):
        compile_expression("__import__('os')", t)
    with pytest.raises(UsageError, match="not a valid expression"):
        compile_expression("Qty *", t)
