"""The responses contract: dynamic attributes in long form, checked whole, atomic and idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.cli._app import main
from patron.data.responses import Scale, load_responses, parse_scale
from patron.data.simulate_survey import SurveyParams, simulate_survey
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from tests.conftest import snapshot

GOOD = (
    "customer_id,wave,brand,overall,rating_quality,rating_price,importance_quality,nps,segment\n"
    "C1,2025-Q1,Ours,4,5,3,5,9,private\n"
    "C2,2025-Q1,Ours,3,3,2,4,6,private\n"
    ",2025-Q1,Rival,4,4,4,,8,business\n"
    ",2025-Q1,Rival,2,2,3,,,business\n"
)


def write(tmp_path: Path, text: str, name: str = "survey.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_long_format(wh: Warehouse, tmp_path: Path) -> None:
    report = load_responses(wh, [str(write(tmp_path, GOOD))], ours="ours")
    assert report.rows_loaded == 4
    rows = wh.table("responses").order_by("response_id").to_pyarrow().to_pylist()
    assert [r["is_ours"] for r in rows] == [True, True, False, False]
    assert rows[0]["scale_low"] == 1
    assert rows[0]["scale_high"] == 5
    assert rows[3]["nps"] is None
    assert rows[2]["customer_id"] is None
    ratings = wh.table("response_ratings")
    assert int(ratings.count().execute()) == 8
    quality = ratings.filter(ratings.attribute == "quality").importance.notnull().sum()
    assert int(quality.execute()) == 2
    assert "quality (rating, stated importance)" in report.files[0].message
    # Loading the same content again is skipped: nothing doubles.
    again = load_responses(wh, [str(write(tmp_path, GOOD, "copy.csv"))], ours="ours")
    assert again.files[0].status == "skipped"
    assert int(wh.table("responses").count().execute()) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("C2,2025-Q1,Ours,3,3,2", "C2,2025-Q1,Ours,3,7,2"),
            "line 3: rating_quality is outside the scale 1-5: 7",
        ),
        (
            GOOD.replace("C1,2025-Q1,Ours,4,5", "C1,2025-Q1,Ours,,5"),
            "line 2: attribute(s) rated without an overall rating",
        ),
        (
            GOOD.replace(",2025-Q1,Rival,2,2", ",2025-Q2,Rival,2,2"),
            "wave '2025-Q2' (line 5) has a single response",
        ),
        (GOOD.replace(",8,business", ",11,business"), "line 4: nps is outside the scale 0-10: 11"),
        (
            GOOD.replace("C2,2025-Q1,Ours,3,3", "C2,2025-Q1,Ours,3,good"),
            "line 3: rating_quality is not a number: good",
        ),
        (GOOD.replace("C1,2025-Q1,Ours", "C1,,Ours"), "line 2: missing wave"),
        (GOOD.replace("Ours", "Acme"), "no response rates our brand 'ours'"),
        (
            GOOD.replace("importance_quality", "importance_speed"),
            "field importance_speed has no rating_speed column",
        ),
    ],
)
def test_bad_input_names_line_and_field_and_writes_nothing(
    wh: Warehouse, tmp_path: Path, text: str, message: str
) -> None:
    load_responses(wh, [str(write(tmp_path, GOOD, "first.csv"))])
    before = snapshot(wh)
    with pytest.raises(DataError) as info:
        load_responses(wh, [str(write(tmp_path, text, "bad.csv"))])
    assert message in str(info.value)
    assert snapshot(wh) == before


def test_scale_is_a_setting(wh: Warehouse, tmp_path: Path) -> None:
    text = GOOD.replace("C2,2025-Q1,Ours,3,3,2", "C2,2025-Q1,Ours,3,7,2")
    load_responses(wh, [str(write(tmp_path, text))], scale=parse_scale("1-7"))
    assert wh.table("responses").scale_high.max().execute() == 7
    with pytest.raises(UsageError, match="--scale"):
        parse_scale("five")
    with pytest.raises(UsageError, match="at least 2 above"):
        Scale(1, 2)


def test_replace_and_cli(tmp_path: Path) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    shop = simulate_survey(tmp_path / "s", seed=3, params=SurveyParams(respondents=20))
    assert main(["load", "responses", str(shop.responses), "-w", url, "--json"]) == 0
    path = write(tmp_path, GOOD.replace("Ours", "Acme"))
    assert main(["load", "responses", str(path), "-w", url]) == 65
    assert main(["load", "responses", str(path), "--ours", "Acme", "-w", url]) == 0
    changed = write(tmp_path, GOOD.replace("Ours", "Acme").replace("C1,", "C9,"))
    assert main(["load", "responses", str(changed), "--ours", "Acme", "-w", url]) == 65
    code = main(["load", "responses", str(changed), "--ours", "Acme", "--replace", "-w", url])
    assert code == 0
    assert main(["load", "responses", str(path), "--scale", "x", "-w", url]) == 2
    assert main(["load", "responses", str(path), "--strict", "-w", url]) == 2
    assert main(["load", "customers", str(path), "--ours", "Acme", "-w", url]) == 2
