"""A campaign on the simulated shop with a known injected effect, through the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.cli import main
from patron.data import connect, simulate_shop


def test_injected_effect_is_recovered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    simulate_shop(6000, shop, seed=21)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop / f"{table}.parquet"), "-w", url]) == 0
    args = ["--arms", "treat:0.5,control:0.5", "--start", "2025-10-01", "--end", "2025-12-28"]
    assert main(["experiment", "create", "promo", *args, "--salt", "k", "-w", url]) == 0
    wh = connect(url)
    a = wh.table("experiment_assignments")
    treated = a.filter(a.arm == "treat").customer_id.to_pyarrow().to_pylist()
    wh.close()
    # The campaign: 15% of treated customers buy one extra 30.00 item in the window.
    rng = np.random.default_rng(4)
    buyers = [c for c in treated if rng.random() < 0.15]
    days = rng.integers(0, 88, len(buyers))
    extra = pa.table(
        {
            "customer_id": buyers,
            "timestamp": [datetime(2025, 10, 1, 12) + timedelta(days=int(d)) for d in days],
            "amount": [30.0] * len(buyers),
            "order_id": [f"CAMPAIGN{i}" for i in range(len(buyers))],
        }
    )
    pq.write_table(extra, tmp_path / "campaign.parquet")
    assert main(["load", "transactions", str(tmp_path / "campaign.parquet"), "-w", url]) == 0
    capsys.readouterr()
    code = main(
        ["experiment", "analyze", "promo", "--metric", "revenue,conversion", "--pre", "period",
         "--json", "-w", url]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in out["results"]}
    revenue, conversion = rows["revenue"], rows["conversion"]
    # Expected revenue lift: 0.15 x 30 = 4.50 per customer; the interval must hold it and
    # exclude zero.
    assert revenue["ci_low"] <= 4.5 <= revenue["ci_high"]
    assert revenue["ci_low"] > 0
    assert revenue["variance_reduction"] >= 0
    # Conversion rises by 15% of those who would not have bought anyway.
    truth = 0.15 * (1 - conversion["control_mean"])
    assert conversion["ci_low"] <= truth <= conversion["ci_high"]
    assert not out["sample_ratio"]["alarm"]
    for key in ("arm", "metric", "control_mean", "arm_mean", "lift", "ci_low", "ci_high",
                "relative_lift", "p_value"):  # fmt: skip
        assert key in revenue
    # Uplift on the stored experiment: features default to the customer attributes and the
    # pre-period outcomes; the ranked list covers every customer of the two arms. The effect
    # was injected at random (15% of treated customers, whoever they are), so there is no one
    # more persuadable to find: the ranking is no better than random, and the list is written
    # only with --force.
    targets = tmp_path / "targets.csv"
    args = ["experiment", "uplift", "promo", "--outcome", "revenue", "--out", str(targets)]
    assert main([*args, "--json", "-w", url]) == 65
    assert not targets.exists()
    capsys.readouterr()
    assert main([*args, "--force", "--json", "-w", url]) == 0
    up = json.loads(capsys.readouterr().out)
    assert up["beats_random"] is False
    assert "cost_to_serve" in up["features"]
    assert "pre_revenue" in up["features"]
    assert up["treatment"] == "treat"
    lines = targets.read_text().splitlines()
    assert lines[0] == "rank,customer_id,predicted_uplift"
    assert len(lines) - 1 == 6000
