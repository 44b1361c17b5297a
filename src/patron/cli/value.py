"""Differentiate by value: patron value fit|score|validate|retention|trend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from patron.cli._common import (
    JsonOpt,
    WarehouseOpt,
    _check_table_file,
    _emit_json,
    _open,
    _parse_date,
    _write_table_file,
    app,
    err,
    out,
)
from patron.cli.differentiate import _print_tiers
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.value.tiers import TierSummary
    from patron.value.workflow import FitResult, ScoreResult, SummarySource

value_app = typer.Typer(
    help="Differentiate by value: fit purchase models, score CLV, validate on a holdout.",
    no_args_is_help=True,
)
app.add_typer(value_app, name="value")

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="bgnbd, mbgnbd, pnbd, bgbb (whole periods of the unit: purchase weeks, months, "
        "...) or auto (the continuous model with the best holdout accuracy).",
    ),
]
UnitOpt = Annotated[str, typer.Option("--unit", help="Time unit: day, week, month or year.")]
CalOpt = Annotated[
    str | None,
    typer.Option(help="Last day of the calibration period (YYYY-MM-DD); later days are holdout."),
]
ObsOpt = Annotated[
    str | None, typer.Option(help="Last day observed (YYYY-MM-DD); default the last transaction.")
]
PenalizerOpt = Annotated[
    float,
    typer.Option(
        help="Penalty × Σ parameter² added to the purchase model's negative log-likelihood "
        "(summed over customers), e.g. 0.001 when the fit does not converge on little data.",
    ),
]
DropoutPriorOpt = Annotated[
    float | None,
    typer.Option(
        "--dropout-prior",
        help="bgnbd, mbgnbd, bgbb: a Normal(0, SD²) prior on the log dropout parameters (e.g. "
        "2), which keeps the fit off the no-dropout boundary; an assumption: compare the "
        "holdout check with and without it.",
    ),
]
SummaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--from-summary",
        help="CSV/Parquet with frequency, recency, T (optional monetary_value, weights, "
        "customer_id, holdout_frequency, duration_holdout, cost_to_serve per year; lifetimes' "
        "and BTYD's column names are read too) instead of the warehouse.",
    ),
]
HoldoutOpt = Annotated[
    float | None,
    typer.Option(
        "--holdout-length",
        help="With --from-summary: the holdout's length in --unit (holdout_frequency counts "
        "the purchases in it), unless the file has a duration_holdout column.",
    ),
]


def _value_source(
    warehouse: str | None,
    from_summary: Path | None,
    unit: str,
    calibration_end: str | None,
    observation_end: str | None,
    model: str,
    penalizer: float,
    holdout_length: float | None = None,
    dropout_prior: float | None = None,
    check_weeks: int | None = None,
) -> SummarySource:
    from patron.value.summary import SummarySpec
    from patron.value.workflow import (
        DISCRETE_MODELS,
        require_known_model,
        require_valid_dropout_prior,
        require_valid_penalizer,
        summary_from_file,
        summary_from_warehouse,
    )

    require_known_model(model)  # before reading anything
    require_valid_penalizer(penalizer)
    require_valid_dropout_prior(model, dropout_prior)
    discrete = model in DISCRETE_MODELS
    if from_summary is not None:
        if calibration_end is not None or observation_end is not None:
            raise UsageError(
                "--calibration-end and --observation-end summarise the warehouse's "
                "transactions; a --from-summary file is summarised already (its holdout: "
                "holdout_frequency, with --holdout-length or a duration_holdout column)."
            )
        return summary_from_file(
            from_summary, unit, discrete=discrete, holdout_length=holdout_length
        )
    if holdout_length is not None:
        raise UsageError(
            "--holdout-length goes with --from-summary; from the warehouse, --calibration-end "
            "sets the holdout (the days after it)."
        )
    spec = SummarySpec(
        unit,
        _parse_date(calibration_end, "--calibration-end"),
        _parse_date(observation_end, "--observation-end"),
        discrete,
    )
    # The holdout check's summary, where one is wanted, comes in the same engine pass.
    return summary_from_warehouse(_open(warehouse), spec, check_weeks=check_weeks)


def _with_errors(params: dict[str, float], errors: dict[str, float | None]) -> str:
    """``name=value (se error)`` per parameter; ``(held)`` for one held at a boundary."""
    return ", ".join(
        f"{k}={v:.4f} " + ("(held)" if (e := errors[k]) is None else f"(se {e:.4f})")
        for k, v in params.items()
    )


def _print_fit(fit: FitResult, *, notes: bool = True) -> None:
    """The fitted parameters; with ``notes`` the model choice and the fit's notes."""
    table = Table(
        title=f"{fit.model.name} fitted on {fit.n_customers:,.0f} customers "
        f"({fit.n_unique_rows:,} unique rows; time unit: {fit.unit})",
        title_justify="left",
    )
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("std. error", justify="right")
    se = fit.model.standard_errors_
    for name, value in fit.model.params_.items():
        error = se[name]
        shown = fit.model.held_reason(name) if error is None else f"{error:.4f}"
        table.add_row(name, f"{value:.4f}", shown)
    out.print(table)
    out.print(f"log-likelihood: {fit.model.log_likelihood_:.2f}")
    if fit.spend_model is not None:
        p = fit.spend_model.params_
        se = fit.spend_model.standard_errors_
        out.print("spend (Gamma-Gamma): " + _with_errors(p, se))
    elif fit.spend_note:
        out.print(f"spend: no Gamma-Gamma fit ({fit.spend_note}); the mean spend is used.")
    if not notes:
        return
    if fit.reason:
        out.print(f"model choice: {fit.reason}")
    for note in fit.notes:
        out.print(f"note: {note}")


@value_app.command("fit")
def value_fit_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    penalizer: PenalizerOpt = 0.0,
    dropout_prior: DropoutPriorOpt = None,
    from_summary: SummaryOpt = None,
    holdout: HoldoutOpt = None,
    save: Annotated[Path | None, typer.Option(help="Write the fitted model as JSON.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a purchase model (and Gamma-Gamma for spend) on per-customer summaries."""
    from patron.data.sources import check_output_file
    from patron.value.workflow import fit_purchase_model

    if save is not None:
        check_output_file(save, (".json",), "--save")
    source = _value_source(
        warehouse, from_summary, unit, calibration_end, observation_end, model, penalizer,
        holdout, dropout_prior,
    )  # fmt: skip
    with source, err.status(f"Fitting {model} ..."):
        fit = fit_purchase_model(source, model, penalizer=penalizer, dropout_prior=dropout_prior)
    if save is not None:
        fit.model.save(save)
    if as_json:
        _emit_json(fit.to_dict())
    else:
        _print_fit(fit)


@value_app.command("score")
def value_score_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    horizon: Annotated[int, typer.Option(help="Horizon in months.")] = 12,
    discount_rate: Annotated[float, typer.Option(help="Yearly discount rate, e.g. 0.1.")] = 0.1,
    margin_rate: Annotated[
        float | None,
        typer.Option(help="Margin as a share of revenue; default: from costs, else revenue."),
    ] = None,
    order_cost: Annotated[
        float, typer.Option(help="Cost of serving one order (currency), e.g. picking and postage.")
    ] = 0.0,
    cost_to_serve: Annotated[
        float | None,
        typer.Option(
            help="Cost to serve one customer for a year (currency), for every customer "
            "(replaces the customers table's cost_to_serve). Without any cost, BZ (below zero) "
            "cannot be identified.",
        ),
    ] = None,
    penalizer: PenalizerOpt = 0.0,
    dropout_prior: DropoutPriorOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Grade the model on a holdout: refit it without the last 13 weeks and compare "
            "(--model auto chooses there). --no-check skips it (grade: not checked).",
        ),
    ] = True,
    from_summary: SummaryOpt = None,
    holdout: HoldoutOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write scores to this CSV/Parquet file.")
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every customer into the customer_value table (or --out FILE).

    Per customer: frequency, recency, T, monetary value, P(alive), expected purchases and
    spend over the horizon, CLV with a 95% interval, the model and the units used. The model
    is graded on a holdout of the last 13 weeks (good, rough, do not use).
    """
    from patron.value.clv import ValueSettings
    from patron.value.history import score_into_warehouse
    from patron.value.validation import HOLDOUT_WEEKS, fit_and_check
    from patron.value.workflow import score_customers

    settings = ValueSettings(horizon, discount_rate, margin_rate, order_cost, cost_to_serve)
    if from_summary is not None and out_file is None:
        raise UsageError("--from-summary needs --out FILE for the scores.")
    if out_file is not None:
        _check_table_file(out_file)
    source = _value_source(
        warehouse, from_summary, unit, calibration_end, observation_end, model, penalizer,
        holdout, dropout_prior, HOLDOUT_WEEKS if check else None,
    )  # fmt: skip
    with source, err.status(f"Fitting {model}, checking it on a holdout and scoring ..."):
        fit, checked = fit_and_check(
            source, model, penalizer=penalizer, dropout_prior=dropout_prior, check=check
        )
        stored = checked.to_dict() if checked is not None else None
        tiers: TierSummary | None = None
        if out_file is None:
            result, tiers = score_into_warehouse(source, fit, settings, check=stored)
        else:
            result, scored = score_customers(source, fit, settings, write=None, check=stored)
            _write_table_file(scored, out_file)
    if as_json:
        payload = result.to_dict()
        if tiers is not None:
            payload["tiers"] = tiers.to_dict()
        _emit_json(payload)
        return
    _print_score(result, out_file)
    if tiers is not None:
        _print_tiers(tiers, notes=False)


def _print_score(result: ScoreResult, out_file: Path | None) -> None:
    where = str(out_file) if out_file else f"table {result.table}"
    out.print(f"Scored {result.customers:,} customers with {result.fit.model.name} into {where}.")
    if result.fit.reason:
        out.print(f"model choice: {result.fit.reason}")
    grade = "not checked"
    if result.check is not None:
        grade = result.check["grade"]["grade"]
        out.print(result.check["sentence"])
    else:
        out.print("Model grade: not checked (--no-check, or a summary file without a holdout).")
    out.print(
        f"Customer equity over {result.settings.horizon_months} months at "
        f"{result.settings.discount_rate:.1%} a year: {result.equity:,.2f} "
        f"(95% interval {result.equity_low:,.2f} .. {result.equity_high:,.2f}, parameter "
        f"uncertainty only; model grade: {grade}); value basis: {result.margin_basis}; "
        f"costs: {result.cost_basis}."
    )
    for note in result.notes:
        out.print(f"note: {note}")
    table = Table(title=f"Most valuable customers (model grade: {grade})", title_justify="left")
    for col in ("customer", "CLV", "95% interval", "P(alive)"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for row in result.top:
        table.add_row(
            str(row["customer_id"]),
            f"{row['clv']:,.2f}",
            f"{row['clv_low']:,.2f} .. {row['clv_high']:,.2f}",
            f"{row['p_alive']:.2f}",
        )
    out.print(table)


@value_app.command("trend")
def value_trend_cmd(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One customer's CLV and tier in every stored snapshot, oldest first."""
    from patron.value.history import value_trend

    with _open(warehouse) as wh:
        rows = value_trend(wh, customer_id)
    if not rows:
        raise UsageError(
            f"No snapshot holds customer {customer_id!r}; check the id, or score with "
            "`patron value score` first."
        )
    if as_json:
        _emit_json({"customer_id": customer_id, "snapshots": rows})
        return
    table = Table(title=f"Value of customer {customer_id} over time", title_justify="left")
    for col in ("as of", "CLV", "95% interval", "P(alive)", "tier", "segment"):
        table.add_column(col, justify="right" if col in ("CLV", "P(alive)") else "left")
    for r in rows:
        table.add_row(
            r["as_of"], f"{r['clv']:,.2f}", f"{r['clv_low']:,.2f} .. {r['clv_high']:,.2f}",
            f"{r['p_alive']:.2f}", str(r["tier"]), str(r["segment"] or "-"),
        )  # fmt: skip
    out.print(table)
    if len(rows) > 1:
        change = rows[-1]["clv"] - rows[0]["clv"]
        out.print(f"CLV changed by {change:+,.2f} from {rows[0]['as_of']} to {rows[-1]['as_of']}.")


@value_app.command("validate")
def value_validate_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    penalizer: PenalizerOpt = 0.0,
    dropout_prior: DropoutPriorOpt = None,
    from_summary: SummaryOpt = None,
    holdout: HoldoutOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit on the calibration period and compare predictions with the holdout."""
    from patron.value.validation import holdout_report
    from patron.value.workflow import fit_purchase_model

    source = _value_source(
        warehouse, from_summary, unit, calibration_end, observation_end, model, penalizer,
        holdout, dropout_prior,
    )  # fmt: skip
    with source, err.status("Validating ..."):
        fit = fit_purchase_model(source, model, penalizer=penalizer, dropout_prior=dropout_prior)
        report = holdout_report(source, fit)
    if as_json:
        _emit_json({**report.to_dict(), "notes": fit.notes})
        return
    if report.calibration_end is None:  # a summary file
        out.print(f"{report.model}: summary file, holdout {report.holdout_length:g} {report.unit}s")
    else:
        out.print(
            f"{report.model}: calibration to {report.calibration_end}, "
            f"holdout {report.holdout_days} days"
        )
    if fit.reason:
        out.print(f"model choice: {fit.reason}")
    for note in fit.notes:
        out.print(f"note: {note}")
    table = Table(
        title="Holdout purchases per customer by calibration frequency", title_justify="left"
    )
    for col in ("frequency", "customers", "actual", "predicted"):
        table.add_column(col, justify="right")
    for b in report.bins:
        table.add_row(
            b["frequency"],
            f"{b['customers']:,.0f}",
            f"{b['actual_mean']:.3f}",
            f"{b['predicted_mean']:.3f}",
        )
    out.print(table)
    t = report.totals
    out.print(
        f"Total holdout purchases: actual {t['actual']:,.0f}, predicted {t['predicted']:,.1f} "
        f"({t['error_pct']:+.1f}%); RMSE per customer {t['rmse_per_customer']:.3f}; "
        f"mean absolute error over bins {t['bin_mae']:.3f}."
    )
    out.print(report.grade.sentence)
    if report.tracking:
        last = report.tracking[-1]
        out.print(
            f"Cumulative repeat purchases after {last['period']} weeks: actual "
            f"{last['actual']:,.0f}, predicted {last['predicted']:,.1f}."
        )


@value_app.command("retention")
def value_retention_cmd(
    alive: Annotated[
        str | None,
        typer.Option(help="Customers active at t = 0, 1, 2, ... e.g. 1000,631,468,382."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            help="CSV with one row per customer: recency (period of churn, or T if still "
            "active) and T; optional cohort column."
        ),
    ] = None,
    cohort: Annotated[str | None, typer.Option(help="Use only this cohort of --from-file.")] = None,
    project: Annotated[int, typer.Option(help="Periods to project survival for.")] = 12,
    discount_rate: Annotated[float, typer.Option(help="Discount rate per period.")] = 0.1,
    value_per_period: Annotated[
        float | None,
        typer.Option(help="Margin per period of a subscriber: residual value = DERL x this."),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --from-file: write each active subscriber's P(renew), DERL and residual "
            "value (with 95% intervals) to this CSV/Parquet file.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Contractual retention (sBG): fit a cohort, project survival, value each subscriber."""
    import ibis

    from patron.value.retention import retention_report

    if out_file is not None:
        if from_file is None:
            raise UsageError("--out needs --from-file (one row per customer) to value.")
        _check_table_file(out_file)
    result = retention_report(alive, from_file, cohort, project, discount_rate, value_per_period)
    payload = result.payload
    if out_file is not None and result.subscribers is not None:
        _write_table_file(ibis.memtable(result.subscribers), out_file)
    if as_json:
        _emit_json(payload)
        return
    p, se = payload["params"], payload["standard_errors"]
    out.print(
        f"sBG on {payload['cohort_size']:,.0f} customers over {payload['periods']} periods: "
        f"{_with_errors(p, se)}; log-likelihood {payload['log_likelihood']:.2f}"
    )
    table = Table(title="Share still active", title_justify="left")
    for col in ("period", "actual", "model", "retention rate"):
        table.add_column(col, justify="right")
    for row in payload["survival"]:
        actual = "" if row["actual"] is None else f"{row['actual']:.1%}"
        table.add_row(str(row["period"]), actual, f"{row['model']:.1%}", f"{row['retention']:.1%}")
    out.print(table)
    out.print(
        f"Discounted expected residual lifetime of a new subscriber at {discount_rate:.0%} per "
        f"period: {payload['derl_new']:.3f} future payments"
        + (
            f", worth {payload['residual_value_new']:,.2f} at {payload['value_per_period']:,.2f} "
            "a period."
            if "residual_value_new" in payload
            else "."
        )
    )
    for note in payload["notes"]:
        out.print(f"note: {note}")
    if "active_subscribers" in payload:
        n = payload["active_subscribers"]
        line = f"{n:,} subscriber{'' if n == 1 else 's'} still active"
        if "residual_value_total" in payload:
            line += f"; residual value in all: {payload['residual_value_total']:,.2f}"
        where = f" (per subscriber in {out_file})" if out_file is not None else ""
        out.print(line + where + ".")
