"""Loading and status on PySpark through Ibis give the same answers as on DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patron.data.loader import LoadOptions, load
from patron.data.status import warehouse_status
from patron.data.warehouse import Warehouse
from tests.conftest import require_spark, shared_file

pytestmark = pytest.mark.spark


def test_capabilities_are_probed(spark_wh: Warehouse) -> None:
    assert spark_wh.backend == "pyspark"
    assert spark_wh.supports_transactions is False
    assert spark_wh.supports_enums is False


def test_cdnow_master_on_spark(spark_wh: Warehouse) -> None:
    path = shared_file("cdnow", "CDNOW_master.txt")
    report = load(spark_wh, "transactions", [str(path)], LoadOptions(date_format="%Y%m%d"))
    assert report.rows_loaded == 69_659
    again = load(spark_wh, "transactions", [str(path)], LoadOptions(date_format="%Y%m%d"))
    assert again.files[0].status == "skipped"
    status = warehouse_status(spark_wh)
    assert status["tables"]["transactions"]["rows"] == 69_659
    assert status["customers"] == 23_570
    assert status["tables"]["transactions"]["revenue"] == pytest.approx(2_500_315.63, abs=0.005)
    assert status["tables"]["transactions"]["first"][:10] == "1997-01-01"
    # Staging tables and views are gone; only the contract table and the ledger remain.
    assert [t for t in spark_wh.list_tables() if t.startswith("_patron_")] == ["_patron_loads"]


def test_rejections_and_upsert_on_spark(spark_wh: Warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer_id,date,amount\nA,2024-01-02,1\n,2024-01-03,2\nB,2024-02-30,3\nC,x,4\n"
    )
    report = load(spark_wh, "transactions", [str(bad)])
    reasons = {r.reason: (r.count, r.first_lines) for r in report.files[0].rejections}
    assert reasons == {"missing customer_id": (1, [3]), "unparseable timestamp": (2, [4, 5])}
    one = tmp_path / "c1.csv"
    one.write_text("customer_id,cost_to_serve\nA,5\nB,3\n")
    two = tmp_path / "c2.csv"
    two.write_text("customer_id,cost_to_serve\nB,4\nC,1\n")
    load(spark_wh, "customers", [str(one)])
    load(spark_wh, "customers", [str(two)])
    rows = spark_wh.table("customers").order_by("customer_id").execute()
    assert rows.cost_to_serve.tolist() == [5.0, 4.0, 1.0]


def test_other_columns_are_kept_on_spark(spark_wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("customer_id,Gender,Loyalty Card\nK1,F,gold\nK2,M,\n")
    report = load(spark_wh, "customers", [str(path)])
    assert report.files[0].attributes == {"Gender": "gender", "Loyalty Card": "loyalty_card"}
    assert report.files[0].message == ""
    customers = spark_wh.table("customers")
    rows = customers.filter(customers.customer_id.isin(["K1", "K2"])).order_by("customer_id")
    got = rows.select("gender", "loyalty_card").to_pyarrow().to_pylist()
    assert got == [{"gender": "F", "loyalty_card": "gold"}, {"gender": "M", "loyalty_card": None}]


def test_a_spark_command_prints_no_start_up_notices(tmp_path: Path) -> None:
    # Spark's default logging profile announces itself, its log level and the machine's
    # hostname and Hadoop libraries on stderr at every start; Patron's CLI keeps stderr for
    # what the user must read. (The JVM's own "Using incubator modules" line stays.)
    # A folder name with a space and a quote: Spark's launcher splits the Java options.
    require_spark()
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONF_DIR"}
    directory = tmp_path / 'my "spark" warehouse'
    url = f"pyspark://{directory}"
    result = subprocess.run(
        [sys.executable, "-m", "patron", "status", "-w", url],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Warehouse {url}" in result.stdout
    # The metastore's Derby home reached the JVM: its log is in the warehouse folder.
    assert (directory / "derby.log").exists()
    assert not (tmp_path / "derby.log").exists()
    notices = [
        line
        for line in result.stderr.splitlines()
        if "log4j" in line or "log level" in line or " WARN " in line
    ]
    assert notices == []
