"""Exact counts on the real logs in ../shared/data."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from patron.data.loader import LoadOptions, load
from patron.data.status import warehouse_status
from patron.data.warehouse import Warehouse
from tests.conftest import shared_file


def test_cdnow_master_exact(wh: Warehouse) -> None:
    path = shared_file("cdnow", "CDNOW_master.txt")
    report = load(wh, "transactions", [str(path)], LoadOptions(date_format="%Y%m%d"))
    assert report.rows_read == 69_659
    assert report.rows_loaded == 69_659
    assert report.rows_rejected == 0
    t = wh.table("transactions")
    row = t.aggregate(
        n=t.count(),
        customers=t.customer_id.nunique(),
        total=t.amount.sum(),
        cds=t.quantity.sum(),
        first=t.timestamp.min(),
        last=t.timestamp.max(),
    ).execute()
    assert int(row.n[0]) == 69_659
    assert int(row.customers[0]) == 23_570
    assert round(float(row.total[0]), 2) == 2_500_315.63
    assert int(row.cds[0]) == 167_881  # number_of_cds recognised as quantity
    assert str(row["first"][0])[:10] == "1997-01-01"
    assert str(row["last"][0])[:10] == "1998-06-30"
    # Zero-dollar rows are kept and are not returns.
    assert int(t.filter(t.amount == 0).count().execute()) == 80
    assert int(t.is_return.sum().execute()) == 0


def test_cdnow_date_format_is_guessed(wh: Warehouse) -> None:
    path = shared_file("cdnow", "CDNOW_master.txt")
    report = load(wh, "transactions", [str(path)])
    assert report.rows_loaded == 69_659


def test_cdnow_sample_without_header_needs_a_mapping(wh: Warehouse) -> None:
    path = shared_file("cdnow", "CDNOW_sample.txt")
    options = LoadOptions(
        mapping={
            "customer_id": "column1",
            "timestamp": "column3",
            "quantity": "column4",
            "amount": "column5",
        },
        date_format="%Y%m%d",
    )
    report = load(wh, "transactions", [str(path)], options)
    assert report.rows_loaded == 6_919
    status = warehouse_status(wh)
    assert status["customers"] == 2_357
    assert status["tables"]["transactions"]["revenue"] == pytest.approx(244_091.94, abs=0.005)


def _online_retail_reference(path: str) -> dict[str, object]:
    """An independent pass with the csv module over the whole file."""
    rows = loaded = returns = 0
    customers: set[str] = set()
    first_missing: list[int] = []
    total = Decimal(0)
    with open(path, newline="", encoding="utf-8") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            rows += 1
            if not rec["CustomerID"]:
                if len(first_missing) < 5:
                    first_missing.append(line)
                continue
            loaded += 1
            customers.add(rec["CustomerID"])
            qty = Decimal(rec["Quantity"])
            total += qty * Decimal(rec["UnitPrice"])
            if qty < 0 or qty * Decimal(rec["UnitPrice"]) < 0:
                returns += 1
    return {
        "rows": rows,
        "loaded": loaded,
        "customers": len(customers),
        "returns": returns,
        "first_missing": first_missing,
        "total": float(total),
    }


@pytest.mark.slow
def test_online_retail_exact(wh: Warehouse) -> None:
    path = shared_file("online_retail", "online_retail.csv")
    ref = _online_retail_reference(str(path))
    report = load(wh, "transactions", [str(path)])
    (f,) = report.files
    assert f.rows_read == 541_909 == ref["rows"]
    assert f.rows_loaded == 406_829 == ref["loaded"]
    assert f.rows_rejected == 135_080
    (rejection,) = f.rejections
    assert rejection.reason == "missing customer_id"
    assert rejection.count == 135_080
    assert rejection.first_lines == ref["first_missing"] == [624, 1445, 1446, 1447, 1448]
    assert f.returns == ref["returns"]
    t = wh.table("transactions")
    assert int(t.customer_id.nunique().execute()) == 4_372 == ref["customers"]
    assert float(t.amount.sum().execute()) == pytest.approx(ref["total"], abs=0.01)
    # Every cancelled invoice (C prefix) with a customer is kept and marked as a return.
    cancelled = t.filter(t.order_id.startswith("C"))
    assert int(cancelled.count().execute()) > 8_000
    assert bool(cancelled.is_return.all().execute())
    assert str(t.timestamp.min().execute())[:16] == "2010-12-01 08:26"
