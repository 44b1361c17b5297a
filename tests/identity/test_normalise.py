from __future__ import annotations

import ibis
import pytest

from patron.data.warehouse import Warehouse
from patron.identity import fold_text, normalise_card, normalise_email, normalise_phone


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
