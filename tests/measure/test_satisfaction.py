"""Satisfaction: NPS by hand, interval coverage by simulation, trend, behaviour by band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from patron.data.responses import load_responses
from patron.data.simulate_survey import SurveyParams, simulate_survey
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.measure.satisfaction import (
    CAUSATION,
    csat_interval,
    nps_interval,
    satisfaction,
    satisfaction_behaviour,
)


def test_nps_by_hand(wh: Warehouse, tmp_path: Path) -> None:
    # 20 answers: 8 promoters (9, 10), 5 passives (7, 8), 7 detractors (0-6).
    scores = [10, 9, 9, 10, 9, 9, 10, 9, 8, 7, 7, 8, 8, 6, 5, 0, 3, 6, 6, 2]
    lines = ["wave,brand,overall,nps"] + [
        f"w1,ours,{1 + (i % 5)},{s}" for i, s in enumerate(scores)
    ]
    path = tmp_path / "nps.csv"
    path.write_text("\n".join(lines) + "\n")
    load_responses(wh, [str(path)])
    group = satisfaction(wh).groups[0]
    assert group["promoters"] == 8
    assert group["passives"] == 5
    assert group["detractors"] == 7
    assert group["nps"] == pytest.approx((8 - 7) / 20 * 100)
    # overall 1..5 four times each: top-2-box = 8 of 20
    assert group["csat"] == pytest.approx(0.4)
    assert group["mean_overall"] == pytest.approx(3.0)
    assert "too few to act on" in group["note"]


def test_csat_wilson_coverage_by_simulation() -> None:
    rng = np.random.default_rng(7)
    p, n, reps = 0.62, 150, 2000
    tops = rng.binomial(n, p, reps)
    hits = 0
    for top in tops:
        _, low, high = csat_interval(int(top), n)
        hits += low <= p <= high
    assert 0.93 <= hits / reps <= 0.97


@pytest.mark.parametrize(("probs", "n"), [((0.45, 0.30, 0.25), 200), ((0.2, 0.3, 0.5), 60)])
def test_nps_interval_coverage_by_simulation(probs: tuple[float, float, float], n: int) -> None:
    rng = np.random.default_rng(11)
    truth = 100 * (probs[0] - probs[2])
    draws = rng.multinomial(n, probs, size=2000)
    hits = 0
    for pro, pas, det in draws:
        _, low, high, _ = nps_interval(pro, pas, det)
        hits += low <= truth <= high
    assert 0.93 <= hits / 2000 <= 0.97


def test_trend_flags_a_real_change(wh: Warehouse, tmp_path: Path) -> None:
    # Our quality and delivery improve by 0.8 in wave 2: overall rises by ~0.4 on average.
    params = SurveyParams(respondents=1500, wave_shift=(0.8, 0.0, 0.8, 0.0, 0.0))
    shop = simulate_survey(tmp_path / "s", seed=2, params=params)
    load_responses(wh, [str(shop.responses)])
    result = satisfaction(wh)
    assert [g["wave"] for g in result.groups] == ["2025-03-01", "2025-09-01"]
    change = result.changes[0]
    assert change["csat_change"] > 0
    assert change["csat_p_value"] < 0.01
    assert change["significant"]
    assert any("significant" in f for f in result.findings)
    segments = satisfaction(wh, by="segment")
    assert {g["segment"] for g in segments.groups} == {"private", "business"}
    with pytest.raises(UsageError, match="--by"):
        satisfaction(wh, by="region")
    with pytest.raises(DataError, match="score customers first"):
        satisfaction(wh, by="tier")


def test_behaviour_by_band_with_hand_made_customers(wh: Warehouse, tmp_path: Path) -> None:
    rows = ["customer_id,wave,brand,overall"]
    for i in range(40):
        rows.append(f"C{i},w1,ours,{5 if i < 20 else 1}")
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    load_responses(wh, [str(path)])
    ids = [f"C{i}" for i in range(40)]
    p_alive = [0.8 + 0.005 * (i % 4) if i < 20 else 0.4 + 0.01 * (i % 3) for i in range(40)]
    wh.create_table(
        "customer_value",
        pa.table(
            {
                "customer_id": ids,
                "p_alive": p_alive,
                "clv": [100.0 + i for i in range(40)],
                "frequency": [1.0 if i % 2 else 0.0 for i in range(40)],
                "tier": ["MVC" if i < 10 else "other" for i in range(40)],
            }
        ),
    )
    out = satisfaction_behaviour(wh)
    bands = {b["band"]: b for b in out["bands"]}
    assert bands["satisfied"]["customers"] == 20
    assert bands["satisfied"]["p_alive"] == pytest.approx(np.mean(p_alive[:20]))
    assert bands["dissatisfied"]["clv"] == pytest.approx(np.mean(range(120, 140)) + 0.0)
    assert bands["satisfied"]["repeat_share"] == pytest.approx(0.5)
    assert bands["neutral"]["customers"] == 0
    assert out["difference"]["low"] > 0
    assert CAUSATION in out["findings"]
    tiers = satisfaction(wh, by="tier")
    assert {g["tier"] for g in tiers.groups} == {"MVC", "other"}
