"""`patron value fit|score|validate` through the real entry point."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from patron.cli import main
from patron.data.warehouse import connect
from patron.errors import UsageError
from patron.value.models import BetaGeoModel, ShiftedBetaGeoModel
from patron.value.summary import SummarySpec, customer_summary
from patron.value.workflow import fit_purchase_model, summary_from_file
from tests.conftest import shared_file
from tests.value.conftest import load_cdnow_sample
from tests.value.test_no_dropout import _nbd_sample


@pytest.fixture
def cdnow_url(tmp_path: Path) -> str:
    url = f"duckdb://{tmp_path / 'cdnow.duckdb'}"
    wh = connect(url)
    load_cdnow_sample(wh)
    wh.close()
    return url


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_fit_from_summary_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("cdnow", "cdnow_customers_summary.csv")
    out = run_json(["value", "fit", "--model", "bgnbd", "--from-summary", str(path)], capsys)
    assert out["model"] == "bgnbd"
    assert out["params"]["r"] == pytest.approx(0.243, abs=5e-4)
    assert out["params"]["b"] == pytest.approx(2.426, abs=5e-4)
    assert out["log_likelihood"] == pytest.approx(-9582.4, abs=0.5)


def test_fit_auto_explains_its_choice(cdnow_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["value", "fit", "--model", "auto", "--calibration-end", "1997-09-30", "-w", cdnow_url]
    out = run_json(args, capsys)
    assert out["model"] in {"bgnbd", "mbgnbd", "pnbd"}
    reason = out["selection"]["reason"]
    # bgnbd 1.6080, mbgnbd 1.6072, pnbd 1.6028: within 1% of the lowest, a tie, broken by the
    # stated rule: all identify dropout; pnbd's BIC is 25 above; bgnbd and mbgnbd within 2
    # of each other, so the first in the order bgnbd, pnbd, mbgnbd.
    assert "bgnbd, mbgnbd, pnbd tie on holdout RMSE (within 1%); all identify dropout" in reason
    assert "pnbd has a BIC more than 2 above the lowest" in reason
    assert out["model"] == "bgnbd"
    assert "1,882 actual" in reason
    assert set(out["selection"]["candidates"]) == {"bgnbd", "mbgnbd", "pnbd"}
    assert main(["value", "fit", "--model", "auto", "-w", cdnow_url]) == 0
    assert "BIC" in capsys.readouterr().out


def test_score_writes_customer_value(cdnow_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["value", "score", "--horizon", "24", "--discount-rate", "0.12", "-w", cdnow_url]
    out = run_json(args, capsys)
    assert out["customers"] == 2357
    assert out["horizon_months"] == 24
    assert out["customer_equity_low"] < out["customer_equity"] < out["customer_equity_high"]
    assert "revenue" in out["margin_basis"]
    wh = connect(cdnow_url)
    table = wh.table("customer_value")
    assert int(table.count().execute()) == 2357
    assert float(table.clv.sum().execute()) == pytest.approx(out["customer_equity"])
    wh.close()
    assert main(["value", "score", "-w", cdnow_url]) == 0
    assert "Customer equity over 12 months at 10.0% a year" in capsys.readouterr().out


def test_score_from_summary_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = shared_file("cdnow", "cdnow_customers_summary_with_transactions.csv")
    summary = pd.read_csv(src).rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value", "ID": "customer_id"}
    )
    path = tmp_path / "summary.csv"
    summary.to_csv(path, index=False)
    out_file = tmp_path / "scores.parquet"
    args = ["value", "score", "--from-summary", str(path), "--out", str(out_file)]
    assert main(args) == 0
    scores = pd.read_parquet(out_file)
    assert len(scores) == 2357
    assert scores.expected_spend.gt(0).all()
    assert main(["value", "score", "--from-summary", str(path)]) == 2
    assert "--from-summary needs --out FILE" in capsys.readouterr().err


def test_validate(cdnow_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["value", "validate", "--calibration-end", "1997-09-30", "-w", cdnow_url]
    out = run_json(args, capsys)
    assert out["totals"]["actual"] == 1882
    assert out["totals"]["predicted"] == pytest.approx(1653.4, abs=1.0)  # BG/NBD, FHL 2005 data
    assert [b["frequency"] for b in out["by_frequency"]][-1] == "7+"
    assert out["tracking"][-1] == {
        "period": 78,
        "actual": 4339.0,
        "predicted": pytest.approx(4160.6, abs=1),
    }
    # Every week's cumulative repeat purchases equal BTYD's cdnowSummary$cu.tracking.
    reference = pd.read_csv(shared_file("cdnow", "btyd_R", "cdnowSummary_cu_tracking.csv"))
    assert [r["period"] for r in out["tracking"]] == reference.week.tolist()
    assert [r["actual"] for r in out["tracking"]] == reference.cum_repeat_transactions.tolist()
    assert main(["value", "validate", "-w", cdnow_url]) == 2
    assert "Validation needs a holdout period: give --calibration-end" in capsys.readouterr().err


def test_value_usage_and_data_errors(
    cdnow_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["value", "fit", "--model", "nope", "-w", cdnow_url]) == 2
    assert "--model 'nope' is not known" in capsys.readouterr().err
    nowhere_wh = f"duckdb://{tmp_path / 'never.duckdb'}"
    assert main(["value", "validate", "--model", "nope", "-w", nowhere_wh]) == 2
    assert "--model 'nope' is not known" in capsys.readouterr().err
    assert not (tmp_path / "never.duckdb").exists()  # refused before opening the warehouse
    assert main(["value", "fit", "--calibration-end", "30/09/1997", "-w", cdnow_url]) == 2
    assert "--calibration-end '30/09/1997' is not a date; use YYYY-MM-DD" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("frequency,recency\n1,2\n")
    assert main(["value", "fit", "--from-summary", str(bad)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert "a summary needs columns frequency, recency, T (or lifetimes'" in err
    assert "missing T (found: frequency, recency)." in err
    worse = tmp_path / "worse.csv"
    worse.write_text("frequency,recency,T\n1,2,3\n2,9,5\n")
    assert main(["value", "fit", "--from-summary", str(worse)]) == 65
    assert "recency is larger than T" in capsys.readouterr().err
    empty = f"duckdb://{tmp_path / 'empty.duckdb'}"
    assert main(["value", "fit", "-w", empty]) == 69
    assert "has no table 'transactions'" in capsys.readouterr().err
    assert main(["value", "score", "--model", "sbg", "-w", cdnow_url]) == 2
    assert "--model 'sbg' is not known" in capsys.readouterr().err
    args = ["value", "validate", "--model", "bgbb", "--unit", "month", "-w", cdnow_url]
    assert main([*args, "--calibration-end", "1998-06-01"]) == 2
    assert "holds no whole month; give an earlier --calibration-end" in capsys.readouterr().err
    text = tmp_path / "text.csv"
    text.write_text("frequency,recency,T\n1,abc,3\n")
    assert main(["value", "fit", "--from-summary", str(text)]) == 65
    assert "must be numbers" in capsys.readouterr().err
    good = shared_file("cdnow", "cdnow_customers_summary.csv")
    nowhere = tmp_path / "missing" / "scores.csv"
    assert main(["value", "score", "--from-summary", str(good), "--out", str(nowhere)]) == 2
    assert f"folder {nowhere.parent} does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        # Each was taken before: an empty cell dropped the row, fractions were rounded to
        # whole counts and NaN became 0, all without a word.
        ("2,5,10\n,3,4\n", [], "line 3: frequency is missing (frequency=missing, recency=3, T=4)"),
        ("2,5,10\n1.5,3,5\n", [], "line 3: frequency is not a whole number (frequency=1.5,"),
        (
            "2,5,10\n1,nan,5\n",
            [],
            "line 3: recency is not a finite number (frequency=1, recency=nan,",
        ),
        ("2,5,10\n1,2,inf\n", [], "line 3: T is not a finite number"),
        # The models' own checks, found on the compressed rows, name the file's line.
        ("2,5,10\n3,2,9\n2,5,10\n1,8,5\n", [], "line 5: recency is larger than T"),
        ("2,5,10\n-1,3,4\n", [], "line 3: frequency is negative"),
        # BG/BB counts whole periods.
        ("2,3,5\n1,2.5,5\n", ["--model", "bgbb"], "line 3: recency is not a whole number"),
    ],
)
def test_a_bad_summary_row_is_named_by_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: str,
    extra: list[str],
    message: str,
) -> None:
    path = tmp_path / "summary.csv"
    path.write_text("frequency,recency,T\n" + rows)
    assert main(["value", "fit", "--from-summary", str(path), *extra]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}, {message}" in err
    assert "correct or remove that row" in err


def test_summary_weights_and_parquet_rows_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weighted = tmp_path / "weighted.csv"
    weighted.write_text("frequency,recency,T,weights\n2,5,10,3\n1,2,3,1.5\n0,0,4,-2\n")
    assert main(["value", "fit", "--from-summary", str(weighted)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert "line 3: weights is not a whole number (frequency=1, recency=2, T=3, weights=1.5)" in err
    # A Parquet file has no header line: its rows are counted from 1.
    table = pd.DataFrame({"frequency": [2, 1], "recency": [5.0, 2.0], "T": [10.0, 3.0],
                          "weights": [3, -2]})  # fmt: skip
    parquet = tmp_path / "summary.parquet"
    table.to_parquet(parquet)
    assert main(["value", "fit", "--from-summary", str(parquet)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{parquet}, row 2: weights is negative" in err
    holdout = tmp_path / "holdout.csv"
    holdout.write_text("frequency,recency,T,holdout_frequency\n2,5,10,1\n0,0,4,-1\n")
    assert main(["value", "validate", "--from-summary", str(holdout)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert "line 3: holdout_frequency is negative" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("frequency,recency,T\n")
    assert main(["value", "fit", "--from-summary", str(empty)]) == 65
    assert f"{empty}: the summary has no rows." in capsys.readouterr().err


def test_a_summary_file_has_one_row_per_customer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A customer on two rows (two files put together, say) was scored twice.
    twice = tmp_path / "twice.csv"
    twice.write_text("customer_id,frequency,recency,T\nA,2,5,10\nB,0,0,4\nA,1,3,8\n")
    scores = tmp_path / "scores.csv"
    assert main(["value", "score", "--from-summary", str(twice), "--out", str(scores)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{twice}: customer_id 'A' is on line 2 and line 4; a summary has one row per" in err
    assert not scores.exists()
    thrice = tmp_path / "thrice.parquet"
    pd.DataFrame(
        {"customer_id": ["A", "B", "B", "B"], "frequency": [1, 2, 0, 1],
         "recency": [1.0, 2.0, 0.0, 1.0], "T": [3.0, 4.0, 4.0, 4.0]}
    ).to_parquet(thrice)  # fmt: skip
    assert main(["value", "fit", "--from-summary", str(thrice)]) == 65
    assert "customer_id 'B' is on 3 rows, row 2 to row 4" in capsys.readouterr().err
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("customer_id,frequency,recency,T\nA,2,5,10\n,0,0,4\n")
    assert main(["value", "fit", "--from-summary", str(nameless)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{nameless}, line 3: customer_id is missing (frequency=0, recency=0, T=4)" in err


def test_summaries_of_btyd_and_lifetimes_validate_as_the_warehouse_does(
    tmp_path: Path, cdnow_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # BTYD's cbs of the CDNOW sample (x, t.x, T.cal, x.star, m.x; holdout 39 weeks) and the
    # same rows under lifetimes' names give the holdout report the warehouse gives.
    cbs = shared_file("cdnow", "btyd_R", "cdnowSummary_cbs.csv")
    warehouse = run_json(
        ["value", "validate", "--calibration-end", "1997-09-30", "-w", cdnow_url], capsys
    )
    btyd = run_json(
        ["value", "validate", "--from-summary", str(cbs), "--holdout-length", "39"], capsys
    )
    frame = pd.read_csv(cbs)
    lifetimes = tmp_path / "lifetimes.csv"
    names = {"cust": "customer_id", "x": "frequency_cal", "t.x": "recency_cal", "T.cal": "T_cal",
             "x.star": "frequency_holdout", "m.x": "monetary_value_cal"}  # fmt: skip
    frame.rename(columns=names).assign(duration_holdout=39.0).to_csv(lifetimes, index=False)
    lt = run_json(["value", "validate", "--from-summary", str(lifetimes)], capsys)
    assert (
        warehouse["totals"]["actual"] == btyd["totals"]["actual"] == lt["totals"]["actual"] == 1882
    )
    for report in (btyd, lt):
        assert report["calibration_end"] is None
        assert report["holdout_days"] == warehouse["holdout_days"] == 273
        assert report["holdout_length"] == warehouse["holdout_length"] == 39  # weeks
        for key in ("predicted", "rmse_per_customer", "bin_mae"):
            assert report["totals"][key] == pytest.approx(warehouse["totals"][key], rel=1e-9)
        pairs = zip(report["by_frequency"], warehouse["by_frequency"], strict=True)
        for mine, theirs in pairs:
            assert mine["customers"] == theirs["customers"]
            assert mine["predicted_mean"] == pytest.approx(theirs["predicted_mean"], rel=1e-9)
    # The holdout also chooses the model.
    auto = run_json(["value", "fit", "--model", "auto", "--from-summary", str(lifetimes)], capsys)
    assert "holdout RMSE per customer" in auto["selection"]["reason"]
    assert main(["value", "validate", "--from-summary", str(lifetimes)]) == 0
    assert "bgnbd: summary file, holdout 39 weeks" in capsys.readouterr().out


def test_a_summary_files_holdout_is_checked(
    tmp_path: Path, cdnow_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(args: list[str], code: int) -> str:
        capsys.readouterr()
        assert main(args) == code
        return " ".join(capsys.readouterr().err.split())

    plain = tmp_path / "plain.csv"
    plain.write_text("frequency,recency,T\n2,5,10\n0,0,4\n1,3,8\n")
    held = tmp_path / "held.csv"
    held.write_text("frequency,recency,T,holdout_frequency\n2,5,10,1\n0,0,4,0\n1,3,8,2\n")
    uneven = tmp_path / "uneven.csv"
    uneven.write_text(
        "frequency,recency,T,holdout_frequency,duration_holdout\n2,5,10,1,4\n0,0,4,0,5\n"
    )
    validate = ["value", "validate", "--from-summary"]
    err = refused([*validate, str(plain)], 2)
    assert "Validating a summary file needs its holdout: a holdout_frequency column" in err
    err = refused([*validate, str(held)], 2)
    assert "and its length in --unit (--holdout-length, or a duration_holdout column)" in err
    err = refused([*validate, str(plain), "--holdout-length", "4"], 65)
    assert f"{plain}: a holdout length needs a holdout_frequency column" in err
    err = refused([*validate, str(uneven)], 65)
    assert "duration_holdout must be the same on every row" in err
    assert "it runs from 4 to 5" in err
    zero = tmp_path / "zero.csv"
    zero.write_text("frequency,recency,T,holdout_frequency,duration_holdout\n2,5,10,1,0\n")
    err = refused([*validate, str(zero)], 65)
    assert f"{zero}: duration_holdout must be > 0 (the holdout's length in weeks)." in err
    err = refused([*validate, str(held), "--holdout-length", "-2"], 2)
    assert "The holdout's length must be a number of weeks > 0, not -2." in err
    err = refused([*validate, str(held), "--holdout-length", "2.5", "--model", "bgbb"], 2)
    assert "the holdout's length 2.5 must be a whole number of weeks" in err
    err = refused([*validate, str(held), "--calibration-end", "1997-09-30"], 2)
    assert "--calibration-end and --observation-end summarise the warehouse's" in err
    err = refused(["value", "validate", "--holdout-length", "39", "-w", cdnow_url], 2)
    assert "--holdout-length goes with --from-summary" in err


def test_retention_sbg(capsys: pytest.CaptureFixture[str]) -> None:
    counts = "1000,631,468,382,326,289,262,241"
    out = run_json(["value", "retention", "--alive", counts], capsys)
    assert out["params"]["alpha"] == pytest.approx(0.704, abs=5e-4)
    assert out["params"]["beta"] == pytest.approx(1.182, abs=5e-4)
    assert out["survival"][1]["actual"] == pytest.approx(0.631)
    assert len(out["survival"]) == 13
    path = shared_file("sbg_fader_hardie_2007", "sbg_cohorts.csv")
    args = ["value", "retention", "--from-file", str(path), "--cohort", "highend"]
    high = run_json(args, capsys)
    assert high["params"]["beta"] == pytest.approx(3.806, abs=5e-4)
    assert main(["value", "retention", "--alive", "1000,1100"]) == 65
    assert "must never increase" in capsys.readouterr().err
    assert main(["value", "retention"]) == 2
    assert "Give either --alive COUNTS or --from-file FILE" in capsys.readouterr().err
    assert main([*args[:-1], "lowend"]) == 65
    assert "no rows of cohort 'lowend' (cohorts: highend, regular)" in capsys.readouterr().err


def test_retention_of_a_cohort_whose_churn_never_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exactly 20% lost each period: sBG holds beta at the cap (it refused before), says so,
    and projects the same 80% retention and the geometric's DERL."""
    counts = "1000,800,640,512,410,328,262,210"
    out = run_json(["value", "retention", "--alive", counts], capsys)
    assert out["standard_errors"]["beta"] is None
    assert out["notes"][0].startswith("homogeneous dropout")
    assert all(row["retention"] == pytest.approx(0.8, abs=1e-3) for row in out["survival"][1:])
    u = 0.8 / 1.1
    assert out["derl_new"] == pytest.approx(u / (1 - u), rel=2e-3)
    assert main(["value", "retention", "--alive", counts]) == 0
    shown = capsys.readouterr().out
    assert "beta=100000.0000 (held)" in shown
    assert "note: homogeneous dropout" in shown


def test_retention_notes_parameters_the_cohort_barely_pins_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Four periods of nearly constant churn: sBG stays inside the search space with alpha and
    beta ~200 and ~800 and standard errors ~33 times the estimates; the report says so (the
    retention report had no such note, unlike `value fit`)."""
    counts = "1000,800,640,512,410"
    out = run_json(["value", "retention", "--alive", counts], capsys)
    assert out["standard_errors"]["alpha"] > 3 * out["params"]["alpha"]
    assert out["notes"] == [
        "alpha, beta: standard error over 3 times the estimate, so the data barely pin these "
        "parameters down; do not read them one by one. The 4 periods observed fix the churn "
        "early on, not how retention changes with tenure, so the projection beyond them and "
        "DERL are uncertain; a longer history of the cohort would help."
    ]
    assert main(["value", "retention", "--alive", counts]) == 0
    assert "note: alpha, beta: standard error over 3 times" in capsys.readouterr().out
    # The paper's cohort pins both down: no note.
    assert (
        run_json(["value", "retention", "--alive", "1000,631,468,382,326"], capsys)["notes"] == []
    )


def test_retention_values_each_active_subscriber(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_file("sbg_fader_hardie_2007", "sbg_cohorts.csv")
    out_file = tmp_path / "subscribers.parquet"
    args = ["value", "retention", "--from-file", str(path), "--cohort", "regular"]
    extra = ["--value-per-period", "100", "--discount-rate", "0.1", "--out", str(out_file)]
    report = run_json([*args, *extra], capsys)
    subs = pd.read_parquet(out_file)
    assert len(subs) == report["active_subscribers"] == 241  # still active after year 7
    assert (subs.renewals == 7).all()
    a, b = report["params"]["alpha"], report["params"]["beta"]
    assert subs.p_renew.iloc[0] == pytest.approx((b + 7) / (a + b + 7), rel=1e-12)
    # DERL: future payments discounted, each weighted by surviving to it given 7 renewals.
    k = np.arange(1, 3000)
    model = ShiftedBetaGeoModel().with_params(np.array([a, b]))
    direct = np.sum(model.survival(7 + k) / model.survival(7) * 1.1**-k)
    assert subs.derl.iloc[0] == pytest.approx(direct, rel=1e-9)
    assert subs.residual_value.sum() == pytest.approx(report["residual_value_total"])
    assert report["residual_value_new"] == pytest.approx(100 * report["derl_new"])
    assert subs.residual_value.iloc[0] == pytest.approx(100 * direct, rel=1e-9)
    assert (subs.derl_low < subs.derl).all()
    assert (subs.derl < subs.derl_high).all()
    # Subscribers observed for different lengths: each one's renewals are its own.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("customer_id,recency,T\na,2,5\nb,3,3\nc,6,6\nd,1,4\ne,4,4\n")
    mixed_out = tmp_path / "mixed_out.csv"
    assert main(["value", "retention", "--from-file", str(mixed), "--out", str(mixed_out)]) == 0
    got = pd.read_csv(mixed_out)
    assert got.customer_id.tolist() == ["b", "c", "e"]
    assert got.renewals.tolist() == [2, 5, 3]
    assert main(["value", "retention", "--alive", "10,5,3", "--out", str(mixed_out)]) == 2
    assert "--out needs --from-file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("recency,T\n1,3\n0,3\n")
    assert main(["value", "retention", "--from-file", str(bad)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{bad}, line 3: recency and T must be whole periods >= 1 (recency=0, T=3;" in err


def test_a_subscriber_file_has_one_row_per_customer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = tmp_path / "twice.csv"
    twice.write_text("customer_id,recency,T\na,2,5\nb,3,3\na,1,4\n")
    assert main(["value", "retention", "--from-file", str(twice)]) == 65
    assert f"{twice}: customer_id 'a' is on line 2 and line 4; give one row per customer." in (
        capsys.readouterr().err
    )
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("customer_id,recency,T\na,2,5\n,3,3\n")
    assert main(["value", "retention", "--from-file", str(nameless)]) == 65
    assert f"{nameless}, line 3: customer_id is missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # A missing or NaN recency was refused without the file or row; an empty file was an
        # internal error; with --cohort the row counted within the cohort.
        ("a,,5\n", "line 3: recency and T must be whole periods >= 1 (recency=missing, T=5;"),
        ("a,nan,5\n", "line 3: recency and T must be whole periods >= 1 (recency=missing, T=5;"),
        ("a,2.5,5\n", "line 3: recency and T must be whole periods >= 1 (recency=2.5, T=5;"),
        ("b,2,5\na,3,inf\n", "line 4: recency and T must be whole periods >= 1 (recency=3, T=inf;"),
        ("", ": no rows (one per customer: recency, T)."),
    ],
)
def test_a_bad_subscriber_row_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text("cohort,recency,T\n" + "b,1,3\n" * bool(rows) + rows)
    args = ["value", "retention", "--from-file", str(path)]
    assert main([*args, *(["--cohort", "a"] if rows else [])]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}{'' if message.startswith(':') else ', '}{message}" in err


def test_failed_score_leaves_customer_value_untouched(
    cdnow_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["value", "score", "-w", cdnow_url]) == 0
    wh = connect(cdnow_url)
    before = wh.table("customer_value").execute()
    wh.close()
    assert main(["value", "score", "--discount-rate", "12", "-w", cdnow_url]) == 2
    assert (
        main(["value", "score", "--model", "mbgnbd", "--unit", "fortnight", "-w", cdnow_url]) == 2
    )
    wh = connect(cdnow_url)
    after = wh.table("customer_value").execute()
    wh.close()
    assert after.equals(before)


def test_bgbb_fit_validate_score_from_the_warehouse(
    cdnow_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """BG/BB on purchase weeks: the holdout counts whole weeks, scores sum to the equity."""
    cal = ["--calibration-end", "1997-09-30"]
    fit = run_json(["value", "fit", "--model", "bgbb", *cal, "-w", cdnow_url], capsys)
    assert fit["model"] == "bgbb"
    assert set(fit["params"]) == {"alpha", "beta", "gamma", "delta"}
    report = run_json(["value", "validate", "--model", "bgbb", *cal, "-w", cdnow_url], capsys)
    # 273 holdout days are 39 whole weeks; purchase weeks are at most purchase days (1,882).
    wh = connect(cdnow_url)
    spec = SummarySpec("week", date(1997, 9, 30), discrete=True)
    weeks, info = customer_summary(wh.table("transactions"), spec)
    assert info["holdout_periods"] == 39
    assert report["totals"]["actual"] == int(weeks.holdout_frequency.sum().execute()) < 1882
    assert report["totals"]["actual"] > 1500
    assert abs(report["totals"]["error_pct"]) < 25
    assert report["tracking"] == []
    wh.close()
    out = run_json(["value", "score", "--model", "bgbb", "-w", cdnow_url], capsys)
    assert out["model"]["model"] == "bgbb"
    wh = connect(cdnow_url)
    scored = wh.table("customer_value").execute()
    wh.close()
    assert len(scored) == 2357
    assert (scored.model == "bgbb").all()
    assert scored.clv.sum() == pytest.approx(out["customer_equity"], rel=1e-9)
    assert (scored.recency <= scored["T"]).all()
    assert (scored.frequency <= scored.recency).all()
    assert scored.p_alive.between(0, 1).all()
    assert out["customer_equity_low"] < out["customer_equity"] < out["customer_equity_high"]


def test_bgbb_on_the_donations_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FHS (2010): the fit from a summary file, and five-year predictions against the holdout."""
    name = "donations_rf_matrix_calibration_with_holdout_xstar.csv"
    rf = pd.read_csv(shared_file("donations_bgbb", "btyd_R", name))
    path = tmp_path / "donations.csv"
    rf.rename(columns={"x": "frequency", "t.x": "recency", "n.cal": "T", "custs": "weights"}).drop(
        columns="x.star"
    ).to_csv(path, index=False)
    common = ["--model", "bgbb", "--unit", "year", "--from-summary", str(path)]
    fit = run_json(["value", "fit", *common], capsys)
    assert fit["params"]["alpha"] == pytest.approx(1.204, abs=5e-4)
    assert fit["params"]["delta"] == pytest.approx(2.783, abs=5e-4)
    assert fit["log_likelihood"] == pytest.approx(-33225.6, abs=0.1)
    scores = tmp_path / "scores.parquet"
    args = ["value", "score", *common, "--horizon", "60", "--discount-rate", "0", "--out"]
    assert main([*args, str(scores)]) == 0
    got = pd.read_parquet(scores).merge(
        rf, left_on=["frequency", "recency"], right_on=["x", "t.x"], validate="many_to_one"
    )
    assert len(got) == 22  # one row per (x, t_x) group of the file
    # Expected donations in 2002-2006 per group, against what each group actually gave.
    predicted = float((got.expected_purchases * got.custs).sum())
    assert predicted == pytest.approx(float(rf["x.star"].sum()), rel=0.05)  # 13,260 actual
    by_group = got.expected_purchases * got.custs
    assert np.corrcoef(by_group, got["x.star"])[0, 1] > 0.99
    # The library refuses a model and a summary that count time differently.
    with summary_from_file(path, "year") as days, pytest.raises(UsageError, match="whole periods"):
        fit_purchase_model(days, "bgbb")
    with (
        summary_from_file(path, "year", discrete=True) as periods,
        pytest.raises(UsageError, match="--model bgnbd needs a summary in days"),
    ):
        fit_purchase_model(periods, "bgnbd")


def test_report_checks_a_bgbb_model_on_whole_weeks(
    cdnow_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["value", "score", "--model", "bgbb", "-w", cdnow_url]) == 0
    out = tmp_path / "report.html"
    assert main(["report", "-w", cdnow_url, "--out", str(out)]) == 0
    html = out.read_text()
    assert "Model check: calibration vs holdout" in html
    assert "Not available" not in html  # the holdout check ran on a period summary


def test_penalizer_rescues_a_fit_the_data_do_not_identify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 300 customers who all buy at one rate (Gamma shape r → ∞): unpenalised, the likelihood
    # rises along (r, alpha) with r/alpha fixed, so r stops at the cap and the common rate is
    # estimated (this refused with "flat in r, alpha" before the cap); the penalizer instead
    # shrinks r and alpha to finite estimates.
    truth = BetaGeoModel().with_params(np.array([1e4, 1e5, 1.0, 3.0]))
    data = truth.sample(np.random.default_rng(1).uniform(20, 52, 300), seed=1)
    path = tmp_path / "summary.csv"
    pd.DataFrame({"frequency": data.frequency, "recency": data.recency, "T": data.T}).to_csv(
        path, index=False
    )
    args = ["value", "fit", "--from-summary", str(path)]
    held = run_json(args, capsys)
    assert held["params"]["r"] == pytest.approx(1e5)
    assert held["standard_errors"]["r"] is None
    assert held["params"]["r"] / held["params"]["alpha"] == pytest.approx(0.1, rel=0.15)
    assert held["notes"][0].startswith("homogeneous purchase rate: the data show no difference")
    held_scores = tmp_path / "held.csv"
    assert main(["value", "score", "--from-summary", str(path), "--out", str(held_scores)]) == 0
    scored = pd.read_csv(held_scores)
    assert np.isfinite(scored[["expected_purchases", "clv", "clv_low", "clv_high"]]).all().all()
    assert (scored["expected_purchases"] > 0).all()
    out = run_json([*args, "--penalizer", "0.001"], capsys)
    assert out["penalizer"] == 0.001
    assert all(np.isfinite(v) and 0 < v < 1e3 for v in out["params"].values())
    # The penalty is Σ parameter²: the fit gives up a little likelihood to shrink them.
    stronger = run_json([*args, "--penalizer", "0.01"], capsys)
    assert stronger["params"]["r"] < out["params"]["r"]
    assert stronger["log_likelihood"] < out["log_likelihood"]
    assert main([*args, "--penalizer", "-1"]) == 2
    assert "--penalizer -1.0 must be a number >= 0" in capsys.readouterr().err
    # validate and score take it too; a bad one is refused before the warehouse is opened.
    nowhere = tmp_path / "never.duckdb"
    assert main(["value", "validate", "--penalizer", "nan", "-w", f"duckdb://{nowhere}"]) == 2
    assert "--penalizer nan must be a number >= 0" in capsys.readouterr().err
    assert not nowhere.exists()
    assert main(["value", "score", "--penalizer", "0.001", "--from-summary", str(path),
                 "--out", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    assert len(pd.read_csv(tmp_path / "s.csv")) == 300


def test_a_history_without_dropout_fits_and_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody leaves in this sample: the fit is the NBD, says so, and scores everyone."""
    data = _nbd_sample(3000, seed=4)
    path = tmp_path / "summary.csv"
    spend = np.where(data.frequency > 0, np.random.default_rng(4).gamma(4.0, 10.0, 3000), 0.0)
    pd.DataFrame(
        {"frequency": data.frequency, "recency": data.recency, "T": data.T,
         "monetary_value": spend}
    ).to_csv(path, index=False)  # fmt: skip
    for model, dropout in (("bgnbd", ("a", "b")), ("pnbd", ("s", "beta"))):
        out = run_json(["value", "fit", "--model", model, "--from-summary", str(path)], capsys)
        assert [out["standard_errors"][p] for p in dropout] == [None, None]
        assert out["standard_errors"]["r"] > 0
        assert any(n.startswith("no dropout: the likelihood is highest where nobody leaves")
                   for n in out["notes"])  # fmt: skip
    capsys.readouterr()
    assert main(["value", "fit", "--from-summary", str(path)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"│ a +│ +0\.0000 │ no dropout │", shown)  # no standard error
    assert "note: no dropout" in shown
    scores = tmp_path / "scores.csv"
    assert main(["value", "score", "--from-summary", str(path), "--out", str(scores)]) == 0
    got = pd.read_csv(scores)
    assert len(got) == len(data.frequency)
    np.testing.assert_allclose(got["p_alive"], 1.0, atol=1e-6)
    assert np.isfinite(got[["clv", "clv_low", "clv_high"]].to_numpy()).all()
    assert ((got["clv_low"] < got["clv"]) & (got["clv"] < got["clv_high"])).all()


def test_a_fit_the_data_barely_pin_down_says_so_and_predicts(
    cdnow_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nine days of CDNOW (calibration to 1997-01-10): BG/NBD's a and b run off together
    (to ~337,000 and ~659,000 without a cap), one dropout probability a/(a+b) for everyone.
    The fit holds b at the cap, estimates a/(a+b) ≈ 0.34 and says so, and flags a as weak
    (217 customers in 15 unique rows); predictions and CLV stay finite (they were NaN before
    the quadrature for a concentrated dropout prior)."""
    cal = ["--calibration-end", "1997-01-10", "-w", cdnow_url]
    fit = run_json(["value", "fit", *cal], capsys)
    a, b = fit["params"]["a"], fit["params"]["b"]
    assert b == pytest.approx(1e5)
    assert fit["standard_errors"]["b"] is None
    assert a / (a + b) == pytest.approx(0.3385, abs=1e-3)
    assert fit["standard_errors"]["a"] > 3 * fit["params"]["a"]
    assert len(fit["notes"]) == 3
    assert fit["notes"][0].startswith("homogeneous dropout: the data show no difference")
    assert "a/(a+b) = 0.33" in fit["notes"][0]
    # every customer's mean spend alike, too: Gamma-Gamma's q held (it refused before)
    assert fit["spend_model"]["standard_errors"]["q"] is None
    assert fit["notes"][1].startswith("homogeneous mean spend: the data show no difference")
    assert fit["notes"][2].startswith("a: standard error over 3 times the estimate")
    report = run_json(["value", "validate", *cal], capsys)
    assert report["notes"] == fit["notes"]
    assert all(np.isfinite(b["predicted_mean"]) for b in report["by_frequency"])
    assert report["totals"]["predicted"] > 0
    assert report["tracking"][-1]["predicted"] > report["totals"]["predicted"] * 0.5
    capsys.readouterr()
    assert main(["value", "fit", *cal]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"│ b +│ +100000\.0000 │ homogeneous │", shown)
    assert "note: a: standard error" in shown
    assert main(["value", "score", *cal]) == 0
    scored = connect(cdnow_url).table("customer_value").to_pandas()
    assert np.isfinite(scored[["clv", "clv_low", "clv_high", "expected_purchases"]]).all().all()
    # A fit the data do identify carries no note.
    normal = ["value", "fit", "--calibration-end", "1997-09-30", "-w", cdnow_url]
    assert run_json(normal, capsys)["notes"] == []


def test_fit_notes_name_weak_parameters_of_the_purchase_and_the_spend_model() -> None:
    from patron.value.models import GammaGammaModel
    from patron.value.workflow import FitResult

    bg = BetaGeoModel().with_params(np.array([0.243, 4.414, 0.793, 2.426]))
    gg = GammaGammaModel().with_params(np.array([6.25, 3.74, 15.44]))
    bg.covariance_ = np.diag([0.8, 0.1, 0.01, 0.1]) ** 2  # r: se 0.8 > 3 × 0.243
    gg.covariance_ = np.diag([1.0, 0.3, 50.0]) ** 2  # gamma: se 50 > 3 × 15.44
    notes = FitResult(bg, gg, "week", 100.0, 10).notes
    assert len(notes) == 2
    assert notes[0].startswith("r: standard error over 3 times the estimate, so the data barely")
    assert "pin it down; do not read it one by one" in notes[0]
    assert notes[1].startswith("spend (Gamma-Gamma) gamma: standard error over 3 times")
    bg.covariance_ = np.diag([0.05, 0.1, 0.01, 0.1]) ** 2
    gg.covariance_ = np.diag([1.0, 0.3, 4.0]) ** 2
    assert FitResult(bg, gg, "week", 100.0, 10).notes == []
