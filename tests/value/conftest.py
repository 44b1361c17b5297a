from __future__ import annotations

from pathlib import Path

from patron.data.loader import LoadOptions, load
from patron.data.warehouse import Warehouse
from tests.conftest import shared_file

CDNOW_SAMPLE_OPTIONS = LoadOptions(
    mapping={
        "customer_id": "column2",
        "timestamp": "column3",
        "quantity": "column4",
        "amount": "column5",
    },
    date_format="%Y%m%d",
)


def load_cdnow_sample(wh: Warehouse) -> Path:
    """Load the CDNOW 1/10 sample (2,357 customers; sample ids as customer ids)."""
    path = shared_file("cdnow", "CDNOW_sample.txt")
    load(wh, "transactions", [str(path)], CDNOW_SAMPLE_OPTIONS)
    return path


def cdnow_sample_on(warehouse: Warehouse) -> None:
    """Make sure a (session-wide) warehouse holds exactly the CDNOW sample's transactions."""
    if (
        not warehouse.has_table("transactions")
        or int(warehouse.table("transactions").count().execute()) != 6919
    ):
        warehouse.drop("transactions")
        warehouse.drop("_patron_loads")
        load_cdnow_sample(warehouse)
