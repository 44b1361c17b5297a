from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from patron.data.loader import load
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.value.summary import (
    _MAX_SPAN_DAYS,
    SummarySpec,
    compress,
    customer_summary,
    expand_summary,
)
from patron.value.workflow import summary_from_warehouse
from tests.conftest import shared_file
from tests.value.conftest import load_cdnow_sample


def test_cdnow_summary_equals_btyd_cbs(wh: Warehouse) -> None:
    load_cdnow_sample(wh)
    spec = SummarySpec("week", date(1997, 9, 30), date(1998, 6, 30))
    table, info = customer_summary(wh.table("transactions"), spec)
    got = table.execute().assign(cust=lambda d: d.customer_id.astype(int)).sort_values("cust")
    cbs = pd.read_csv(shared_file("cdnow", "btyd_R", "cdnowSummary_cbs.csv"))
    assert got.cust.tolist() == cbs.cust.tolist()
    pairs = [
        ("frequency", "x"),
        ("recency", "t.x"),
        ("T", "T.cal"),
        ("holdout_frequency", "x.star"),
        ("monetary_value", "m.x"),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(
            got[ours].to_numpy(float), cbs[theirs].to_numpy(float), atol=1e-9
        )
    assert info["holdout_days"] == 273
    comp = compress(table, spec.unit_days)
    assert comp.counts.sum() == 2357


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return str(path)


def test_same_day_merged_and_returns_netted(wh: Warehouse, tmp_path: Path) -> None:
    text = (
        "customer_id,timestamp,amount\n"
        "A,2024-01-01 09:00,10\n"
        "A,2024-01-08 10:00,20\n"
        "A,2024-01-08 18:00,5\n"  # same day: one purchase of 25
        "A,2024-01-15 10:00,30\n"
        "A,2024-01-15 11:00,-10\n"  # a return that day: nets to 20
        "A,2024-01-22 10:00,-20\n"  # return-only day: not a purchase
        "B,2024-01-29 10:00,7\n"
    )
    load(wh, "transactions", [write(tmp_path, text)])
    table, _ = customer_summary(wh.table("transactions"), SummarySpec("day"))
    rows = table.execute().set_index("customer_id")
    assert rows.loc["A", "frequency"] == 2
    assert rows.loc["A", "recency"] == 14
    assert rows.loc["A", "T"] == 28  # the observation end is the last purchase day, 29 Jan
    assert rows.loc["A", "monetary_value"] == pytest.approx((25 + 20) / 2)
    assert rows.loc["B", "frequency"] == 0
    assert rows.loc["B", "T"] == 0
    week, _ = customer_summary(wh.table("transactions"), SummarySpec("week"))
    assert week.execute().set_index("customer_id").loc["A", "T"] == pytest.approx(4.0)
    month, _ = customer_summary(wh.table("transactions"), SummarySpec("month"))
    assert month.execute().set_index("customer_id").loc["A", "T"] == pytest.approx(
        28 / (365.25 / 12)
    )


def test_bad_spec() -> None:
    with pytest.raises(UsageError, match="--unit 'fortnight' is not known"):
        SummarySpec("fortnight")
    with pytest.raises(UsageError, match="must not be after the observation end"):
        SummarySpec("week", date(2024, 2, 1), date(2024, 1, 1))


def test_discrete_summary_counts_whole_periods_on_one_grid(wh: Warehouse, tmp_path: Path) -> None:
    """Weeks ending on the calibration end (Sun 3 March 2024): q = -1 is 26 Feb .. 3 Mar."""
    text = (
        "customer_id,timestamp,amount\n"
        "A,2024-02-01 09:00,10\n"  # first purchase period: 29 Jan .. 4 Feb (q = -5)
        "A,2024-02-03 09:00,4\n"  # same period: part of the first purchase
        "A,2024-02-06 10:00,20\n"  # q = -4
        "A,2024-02-08 10:00,5\n"  # same period: one purchase period of 25
        "A,2024-02-27 10:00,30\n"  # q = -1, the last calibration week
        "A,2024-02-27 12:00,-10\n"  # a return that day: nets to 20
        "A,2024-03-05 10:00,40\n"  # holdout week 0
        "A,2024-03-19 10:00,50\n"  # holdout week 2 is cut by the observation end: left out
        "B,2024-03-03 10:00,7\n"  # first purchase in the last calibration week: n = 0
        "B,2024-03-12 10:00,8\n"  # holdout week 1
        "C,2024-03-06 10:00,9\n"  # first purchase in the holdout: not summarised
    )
    load(wh, "transactions", [write(tmp_path, text)])
    spec = SummarySpec("week", date(2024, 3, 3), date(2024, 3, 20), discrete=True)
    table, info = customer_summary(wh.table("transactions"), spec)
    rows = table.execute().set_index("customer_id")
    assert sorted(rows.index) == ["A", "B"]
    a, b = rows.loc["A"], rows.loc["B"]
    assert (a.frequency, a.recency, a["T"]) == (2, 4.0, 4.0)  # weeks -4 and -1 after week -5
    assert a.monetary_value == pytest.approx((25 + 20) / 2)
    assert (a.holdout_frequency, a.holdout_spend) == (1, 40.0)
    assert (b.frequency, b.recency, b["T"], b.holdout_frequency) == (0, 0.0, 0.0, 1)
    assert a.first_purchase_day == (date(2024, 2, 1) - date(1970, 1, 1)).days
    assert info["holdout_days"] == 17
    assert info["holdout_periods"] == 2
    comp = compress(table, 1.0)
    d = comp.periods
    assert sorted(zip(d.frequency, d.recency, d.n_periods, strict=True)) == [(0, 0, 0), (2, 4, 4)]


@pytest.mark.parametrize(
    "spec",
    [
        SummarySpec("week", date(1997, 9, 30), date(1998, 6, 30)),
        SummarySpec("month"),
        SummarySpec("month", date(1997, 12, 31), discrete=True),
    ],
    ids=["weeks-holdout", "months", "months-discrete"],
)
def test_stored_summary_is_narrow_and_expands_to_the_full_summary(
    wh: Warehouse, spec: SummarySpec
) -> None:
    """The warehouse keeps row_key instead of frequency, recency and T; reading decodes them."""
    load_cdnow_sample(wh)
    full, _ = customer_summary(wh.table("transactions"), spec)
    with summary_from_warehouse(wh, spec) as source:
        assert source.staging is not None
        stored = wh.table(source.staging).columns
        assert not {"frequency", "recency_days", "T_days", "recency", "T"} & set(stored)
        assert ("first_purchase_day" in stored) is spec.discrete
        assert source.table.columns == full.columns
        assert source.table.schema() == full.schema()
        got = source.table.execute().sort_values("customer_id", ignore_index=True)
    want = full.execute().sort_values("customer_id", ignore_index=True)
    assert len(got) == 2357
    # The decoded columns exactly (integer arithmetic on the key, then the same division); the
    # sums to the last bits (the engine's parallel sums may add in another order).
    decoded = ["customer_id", "frequency", "recency_days", "T_days", "recency", "T"]
    decoded += ["first_purchase_day", "row_key"]
    pd.testing.assert_frame_equal(got[decoded], want[decoded], check_exact=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    assert got.frequency.max() > 0
    assert got.recency.max() > 0


def test_row_keys_decode_exactly_up_to_the_longest_span() -> None:
    """Keys near 2**53 decode exactly, though the engine divides them as doubles."""
    base = _MAX_SPAN_DAYS + 2
    rng = np.random.default_rng(5)
    freq = np.r_[base - 1, base - 1, rng.integers(0, base, 2000)]
    recency = np.r_[base - 1, 0, rng.integers(0, base - 1, 2000)]
    t_days = np.r_[base - 2, base - 2, rng.integers(0, base - 1, 2000)]
    keys = (freq * base + recency) * base + t_days
    assert keys.max() < 2**53 < keys.max() * 2
    stored = ibis.memtable(
        {
            "customer_id": [str(i) for i in range(len(keys))],
            "row_key": keys,
            "monetary_value": np.zeros(len(keys)),
            "margin_value": np.zeros(len(keys)),
        }
    )
    info = {"key_base": base, "discrete": False, "unit": "day", "calibration_end": "2024-01-01"}
    got = (
        expand_summary(stored, info)
        .execute()
        .sort_values("customer_id", key=lambda c: c.astype(int))
    )
    np.testing.assert_array_equal(got.frequency.to_numpy(), freq)
    np.testing.assert_array_equal(got.recency_days.to_numpy(), recency)
    np.testing.assert_array_equal(got.T_days.to_numpy(), t_days)


def test_a_span_too_long_to_key_is_refused_with_the_dates() -> None:
    def purchases(*days: datetime) -> ibis.Table:
        return ibis.memtable(
            pa.table(
                {
                    "customer_id": ["A"] * len(days),
                    "timestamp": pa.array(days, pa.timestamp("us")),
                    "amount": [1.0] * len(days),
                    "cost": pa.array([None] * len(days), pa.float64()),
                    "is_return": [False] * len(days),
                }
            )
        )

    first = datetime(1400, 1, 1)
    too_long = purchases(first, first + timedelta(days=_MAX_SPAN_DAYS + 1))
    with pytest.raises(
        UsageError, match=r"spans 208,001 days \(from the first purchase, 1400-01-01"
    ):
        customer_summary(too_long, SummarySpec("week"))
    longest = purchases(first, first + timedelta(days=_MAX_SPAN_DAYS))
    table, info = customer_summary(longest, SummarySpec("day"))
    assert info["key_base"] == _MAX_SPAN_DAYS + 2
    row = table.execute().iloc[0]
    assert (row.frequency, row.recency_days, row.T_days) == (1, _MAX_SPAN_DAYS, _MAX_SPAN_DAYS)
