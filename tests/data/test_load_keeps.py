"""Loading keeps what it is given: other columns as attributes, what was mapped to what,
customers merged from a transaction-level file said as such, a log without amounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.cli import main
from tests.conftest import shared_file


def test_other_columns_are_kept_as_attributes_and_the_mapping_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    path = tmp_path / "orders.csv"
    path.write_text(
        "CustomerID,InvoiceDate,Quantity,UnitPrice,Country,Gender,Unit Price Band\n"
        "1,2024-01-02,2,3.5,UK,F,low\n2,2024-01-03,1,2,FR,M,\n"
    )
    capsys.readouterr()
    assert main(["load", "transactions", str(path), "-w", url, "--json"]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert f["mapping"] == {
        "customer_id": "CustomerID",
        "timestamp": "InvoiceDate",
        "amount": "Quantity * UnitPrice",
        "quantity": "Quantity",
    }
    assert f["attributes"] == {  # UnitPrice went into the amount
        "Country": "country",
        "Gender": "gender",
        "Unit Price Band": "unit_price_band",
    }
    second = tmp_path / "more.csv"
    second.write_text("customer_id,date,amount,Channel\n3,2024-02-01,5,web\n")
    assert main(["load", "transactions", str(second), "-w", url]) == 0
    text = capsys.readouterr().out
    assert "columns customer_id <- customer_id, timestamp <- date, amount <- amount" in text
    assert "other columns kept as text attributes: Channel (as channel)" not in text  # contract
    from patron.data import connect

    with connect(url) as wh:
        rows = wh.table("transactions").order_by("customer_id").to_pyarrow().to_pylist()
    assert [(r["country"], r["gender"], r["unit_price_band"]) for r in rows] == [
        ("UK", "F", "low"),
        ("FR", "M", None),
        (None, None, None),
    ]
    assert rows[2]["channel"] == "web"


def test_customers_from_a_transaction_level_file_say_they_were_merged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Online Retail: "loaded 406,829" while 4,372 customers were written.
    path = shared_file("online_retail", "online_retail.csv")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    capsys.readouterr()
    assert main(["load", "customers", str(path), "-w", url]) == 0
    text = capsys.readouterr().out
    assert "406,829 good rows for 4,372 distinct customers" in text
    assert "402,457 rows repeating a key were merged" in text
    assert "region <- Country" in text
    # An invoice number is not a fact about a customer: columns that vary within one are
    # not kept (the last line's value would pass for one).
    assert "vary within one customer_id: InvoiceNo, StockCode, Description" in text
    from patron.data import connect

    with connect(url) as w:
        customers = w.table("customers")
        assert int(customers.count().to_pyarrow().as_py()) == 4_372
        assert "description" not in customers.columns


def test_online_retail_keeps_description_and_country(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Were dropped without a word.
    path = shared_file("online_retail", "online_retail.csv")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    capsys.readouterr()
    assert main(["load", "transactions", str(path), "-w", url, "--json"]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert f["attributes"] == {"Description": "description", "Country": "country"}
    assert f["mapping"]["amount"] == "Quantity * UnitPrice"
    from patron.data import connect

    with connect(url) as wh:
        t = wh.table("transactions")
        by_country = t.group_by("country").aggregate(n=t.count()).to_pyarrow().to_pylist()
        counts = {r["country"]: r["n"] for r in by_country}
        assert len(counts) == 37  # 38 countries in the file; one has no customer ids
        assert sum(counts.values()) == 406_829
        assert counts["United Kingdom"] == 361_878


def test_attributes_constant_within_a_customer_are_kept_when_rows_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("customer_id,Gender,Visit\nA,F,1\nA,F,2\nB,M,3\n")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    capsys.readouterr()
    assert main(["load", "customers", str(path), "-w", url, "--json"]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert (f["rows_loaded"], f["merged"]) == (2, 1)
    assert f["attributes"] == {"Gender": "gender"}
    assert "Visit" in f["message"]


def test_a_log_without_amounts_loads_with_no_amount(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("customer_id,date\nA,2024-01-02\nB,2024-01-03\n")
    url = f"duckdb://{tmp_path / 'x.duckdb'}"
    capsys.readouterr()
    assert main(["load", "transactions", str(path), "-w", url]) == 65
    assert "--no-amount counts purchases" in capsys.readouterr().err
    assert main(["load", "transactions", str(path), "--no-amount", "-w", url]) == 0
    assert "amount <- 1" in capsys.readouterr().out
    from patron.data import connect

    with connect(url) as wh:
        assert wh.table("transactions").amount.to_pyarrow().to_pylist() == [1.0, 1.0]


def test_columns_read_by_a_mapping_are_not_kept_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Client,Date,Qty,Price,Store\nA,2024-01-02,2,3,North\n")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    args = ["--map", "customer_id=Client", "--map", "amount=Qty*Price", "--json", "-w", url]
    capsys.readouterr()
    assert main(["load", "transactions", str(path), *args]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert f["mapping"]["amount"] == "Qty*Price"
    assert f["mapping"]["timestamp"] == "Date"
    assert f["attributes"] == {"Store": "store"}
