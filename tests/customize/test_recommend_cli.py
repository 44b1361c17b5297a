"""patron recommend fit|evaluate and patron export recommendations, through the real entry point."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import ibis
import pytest

from patron.cli import main
from patron.data.warehouse import connect
from tests.customize.log import LINES, load_log

AFTER = [
    ("A", "06-13", "o20", "p4", 1),
    ("B", "06-14", "o21", "p3", 1),
    ("D", "06-15", "o22", "p1", 1),
]


@pytest.fixture
def small(tmp_path: Path) -> str:
    """The hand-made log (5 customers)."""
    url = f"duckdb://{tmp_path / 'small.duckdb'}"
    wh = connect(url)
    load_log(wh, LINES + AFTER)
    wh.close()
    return url


@pytest.fixture
def many(tmp_path: Path) -> str:
    """Eight copies of the hand-made log under other customer ids (40 evaluated customers)."""
    url = f"duckdb://{tmp_path / 'many.duckdb'}"
    wh = connect(url)
    lines = [(f"{c}{k}", d, f"{o}-{k}", p, q) for k in range(8) for c, d, o, p, q in LINES + AFTER]
    load_log(wh, lines)
    wh.close()
    return url


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_then_export(small: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "recommend",
            "fit",
            "--model",
            "cooccurrence",
            "--top",
            "3",
            "--all-products",
            "-w",
            small,
        ],
        capsys,
    )
    assert code == 0
    assert "cooccurrence: top 3 for 5 of 5 customers" in out
    target = tmp_path / "recs.csv"
    assert main(["export", "recommendations", "--out", str(target), "-w", small]) == 0
    with target.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["customer_id", "rank", "product_id", "score", "model"]
    d = [(r["rank"], r["product_id"]) for r in rows if r["customer_id"] == "D"]
    # D bought p1 and p2: co-purchase counts p4 3 + 2, p3 2 + 2, p5 1 + 0.
    assert d == [("1", "p4"), ("2", "p3"), ("3", "p5")]
    code, out, _ = run(
        ["recommend", "fit", "-w", small, "--json", "--replenishable", "coffee"], capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["model"] == "hybrid"  # the shipped default
    assert payload["published"] is None


def test_fit_and_publish(small: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    code, _, err = run(["recommend", "fit", "--publish", "-s", store, "-w", small], capsys)
    assert code == 69
    assert "patron store upgrade" in err
    assert not connect(small).has_table("recommendations")  # nothing written before the check
    assert main(["store", "upgrade", "-s", store]) == 0
    code, out, _ = run(["recommend", "fit", "--publish", "-s", store, "-w", small], capsys)
    assert code == 0
    assert "Recommendations publication 1 is live in the store: 5 customers" in out


def test_evaluate_json(many: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "recommend",
            "evaluate",
            "--cutoff",
            "2024-06-12",
            "--model",
            "popularity,bm25",
            "--top",
            "2",
            "-w",
            many,
            "--json",
        ],
        capsys,
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["cutoff"] == "2024-06-12"
    # Every copy: A (p4), B (p3), D (p1), C (coffee on June 20), E (p3 on June 15).
    assert payload["customers"] == 40
    assert [s["model"] for s in payload["scores"]] == ["popularity", "bm25"]
    code, out, _ = run(["recommend", "evaluate", "--cutoff", "2024-06-12", "-w", many], capsys)
    assert code == 0
    assert "precision@10" in out
    assert "40 customers" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["recommend", "fit", "--model", "svd"], 2, "--model 'svd' is not a model; choose one"),
        (["recommend", "fit", "--top", "0"], 2, "--top 0: ask for at least 1 product"),
        (["recommend", "fit", "--active-days", "-3"], 2, "--active-days -3: use 0 or more"),
        (["recommend", "evaluate", "--cutoff", "2030-01-01"], 2, "--cutoff 2030-01-01 is outside"),
        (["recommend", "evaluate", "--cutoff", "June"], 2, "--cutoff 'June' is not a date"),
        (["recommend", "evaluate", "--model", "x"], 2, "--model 'x' is not a model"),
        (["recommend", "evaluate", "--cutoff", "2024-06-12"], 65, "Only 5 customers bought"),
    ],
)
def test_bad_input(
    small: str, args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _, err = run([*args, "-w", small], capsys)
    assert got == code
    assert message in err
    assert "Traceback" not in err


def test_no_products_or_transactions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    code, _, err = run(["recommend", "fit", "-w", url], capsys)
    assert code == 65
    assert "no transactions table" in err
    wh = connect(url)
    wh.create_table(
        "transactions",
        ibis.memtable({"customer_id": ["A"], "timestamp": ["2024-01-01"], "amount": [1.0]}).mutate(
            timestamp=ibis._.timestamp.cast("timestamp")
        ),
    )
    wh.close()
    code, _, err = run(["recommend", "evaluate", "-w", url], capsys)
    assert code == 65
    assert "no product_id column" in err


def test_fit_ease_and_its_catalogue_limit(
    small: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["patron.customize.recommend"], "EASE_MAX_PRODUCTS", 3)
    code, _, err = run(["recommend", "fit", "--model", "ease", "-w", small], capsys)
    assert code == 2
    assert "The ease model inverts a dense products x products matrix and is limited to 3" in err
    assert "Traceback" not in err
    assert not connect(small).has_table("recommendations")  # nothing written
    monkeypatch.undo()
    code, out, _ = run(
        ["recommend", "fit", "--model", "ease", "--top", "3", "--all-products", "-w", small],
        capsys,
    )
    assert code == 0
    assert "ease: top 3 for 5 of 5 customers" in out
