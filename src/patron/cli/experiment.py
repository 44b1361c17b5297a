"""Measure: patron experiment create|assign|export|plan|analyze|report|uplift."""

from __future__ import annotations

import contextlib
import math
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
    _split,
    _write_table_file,
    app,
    out,
)
from patron.errors import DataError, UsageError

if TYPE_CHECKING:
    from patron.measure import AnalysisResult, AssignmentResult

experiment_app = typer.Typer(
    help="Measure: experiments with control groups, power, lift with intervals, uplift.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


def _print_assignment(result: AssignmentResult) -> None:
    exp = result.experiment
    out.print(
        f"Experiment {exp.name}: {result.total:,} customers assigned "
        f"({result.assigned:,} new); control arm {exp.control!r}"
        + (f"; audience {exp.audience}" if exp.audience else "")
        + (f"; strata: {', '.join(exp.stratify)}" if exp.stratify else "")
        + "."
    )
    table = Table(title="Arms", title_justify="left")
    for col in ("arm", "target share", "customers", "actual share"):
        table.add_column(col, justify="left" if col == "arm" else "right")
    for arm in exp.arms:
        n = result.by_arm.get(arm.name, 0)
        share = n / result.total if result.total else 0.0
        table.add_row(arm.name, f"{arm.share:.1%}", f"{n:,}", f"{share:.2%}")
    out.print(table)
    if exp.stratify:
        out.print(
            f"{len(result.by_stratum)} strata, each split as close to the shares as integers allow."
        )
    for note in result.notes:
        out.print(f"warning: {note}")


@experiment_app.command("create")
def experiment_create_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    arms: Annotated[str, typer.Option(help="Arms with shares, e.g. treat:0.9,control:0.1.")],
    control: Annotated[str, typer.Option(help="The control arm's name.")] = "control",
    stratify: Annotated[
        str | None, typer.Option(help="Customer attributes to stratify on, e.g. tier,segment.")
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(help="Who takes part, e.g. \"tier in ('MVC', 'MGC') and p_alive > 0.5\"."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD).")] = None,
    salt: Annotated[
        str | None, typer.Option(help="Hash salt (default: random, stored with the experiment).")
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an experiment and assign its audience to arms (stable, stratified hashing)."""
    from patron.measure import create_experiment, parse_arms

    parsed = parse_arms(arms)
    with _open(warehouse) as wh:
        result = create_experiment(
            wh,
            name,
            parsed,
            control=control,
            audience=audience,
            stratify=_split([stratify] if stratify else None),
            start=_parse_date(start, "--start"),
            end=_parse_date(end, "--end"),
            salt=salt,
        )
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_assignment(result)


@experiment_app.command("assign")
def experiment_assign_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign customers who joined the audience since (nobody already assigned moves)."""
    from patron.measure import assign_new_customers

    with _open(warehouse) as wh:
        result = assign_new_customers(wh, name)
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_assignment(result)


@experiment_app.command("export")
def experiment_export_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    out_file: Annotated[Path, typer.Option("--out", help="A .csv or .parquet file.")],
    arm: Annotated[str | None, typer.Option(help="Only this arm (e.g. the treated list).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Export the assignment list (customer_id, arm) for a campaign tool."""
    from patron.measure import assignment_list

    _check_table_file(out_file)
    with _open(warehouse) as wh:
        rows = assignment_list(wh, name, arm)
        n = int(rows.count().to_pyarrow().as_py())
        _write_table_file(rows, out_file)
    out.print(f"Exported {n:,} assignments of {name} to {out_file}.")


@experiment_app.command("plan")
def experiment_plan_cmd(
    baseline: Annotated[
        float, typer.Option(help="Control rate (0-1), or mean per customer with --sd.")
    ],
    mde: Annotated[
        float | None,
        typer.Option(help="Minimum detectable effect: rate points (0.01) or currency with --sd."),
    ] = None,
    audience: Annotated[
        int | None, typer.Option(help="Customers available; prints the detectable effect.")
    ] = None,
    sd: Annotated[float | None, typer.Option(help="Std. deviation per customer (means).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
    holdout: Annotated[float, typer.Option(help="Share held out as control.")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Holdout and sample sizes for an effect, or the effect detectable with an audience."""
    from patron.measure import plan_experiment

    result = plan_experiment(
        baseline, mde=mde, audience=audience, sd=sd, alpha=alpha, power=power, holdout=holdout
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        out.print(result.summary)


def _analysis(
    name: str | None,
    from_file: Path | None,
    arm: str | None,
    control: str | None,
    metrics: list[str],
    pre: str | None,
    stratify: str | None,
    shares: str | None,
    warehouse: str | None,
) -> tuple[AnalysisResult, str]:
    from patron.measure import analyze_experiment, analyze_table, parse_arms, read_outcome_file

    if (name is None) == (from_file is None):
        raise UsageError("Give an experiment NAME or --from-file FILE (not both).")
    if from_file is not None:
        if arm is None or control is None:
            raise UsageError("--from-file needs --arm COLUMN and --control VALUE.")
        if not metrics:
            raise UsageError("Give the outcome columns to compare with --metric COLUMN.")
        design = {a.name: a.share for a in parse_arms(shares)} if shares else None
        table = read_outcome_file(from_file)
        result = analyze_table(
            table,
            arm=arm,
            control=control,
            metrics=metrics,
            pre=pre,
            stratum=stratify,
            shares=design,
        )
        return result, f"{from_file.name} (arms from column {arm})"
    with _open(warehouse) as wh:
        result, start, end = analyze_experiment(
            wh, str(name), metrics or ["conversion", "revenue"], pre=pre
        )
    return result, f"experiment {name}, {start} to {end}"


def _print_analysis(result: AnalysisResult, title: str) -> None:
    out.print(f"{title}: {result.srm['message']}")
    table = Table(title="Lift over control", title_justify="left")
    for col in ("arm", "metric", "control", "arm mean", "lift", "95% CI", "p", "p (adj.)"):
        table.add_column(col, justify="left" if col in ("arm", "metric") else "right")
    for r in result.results:
        pct = r["kind"] == "proportion"

        def f(v: float | None, pct: bool = pct) -> str:
            if v is None or not math.isfinite(v):
                return "-"
            return f"{v:.2%}" if pct else f"{v:,.4g}"

        def pv(v: float | None) -> str:
            return "-" if v is None or not math.isfinite(v) else f"{v:.2g}"

        adj = " (adj.)" if r.get("means") == "CUPED-adjusted" else ""
        table.add_row(
            r["arm"], r["metric"], f(r["control_mean"]) + adj, f(r["arm_mean"]) + adj, f(r["lift"]),
            f"{f(r['ci_low'])} .. {f(r['ci_high'])}", pv(r["p_value"]),
            pv(r["p_value_adjusted"]),
        )  # fmt: skip
    out.print(table)
    for r in result.results:
        out.print(f"- {r['summary']}")
    for note in result.notes:
        out.print(f"note: {note}")


MetricOpt = Annotated[
    list[str] | None,
    typer.Option("--metric", help="Outcome(s) to compare: --metric a b, a,b or repeated."),
]
FromFileOpt = Annotated[
    Path | None, typer.Option("--from-file", help="Per-customer outcomes (CSV/Parquet).")
]
ArmOpt = Annotated[str | None, typer.Option("--arm", help="The file's arm column.")]
ControlOpt = Annotated[str | None, typer.Option("--control", help="The control arm's value.")]
PreOpt = Annotated[
    str | None,
    typer.Option(help="Pre-period covariate for CUPED: a column, or 'period' for an experiment."),
]
StrataOpt = Annotated[str | None, typer.Option("--stratify", help="Stratum column (file).")]
SharesOpt = Annotated[
    str | None, typer.Option(help="Design shares for the ratio check, e.g. a:0.5,b:0.5.")
]


@experiment_app.command("analyze")
def experiment_analyze_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: FromFileOpt = None,
    arm: ArmOpt = None,
    control: ControlOpt = None,
    metric: MetricOpt = None,
    pre: PreOpt = None,
    stratify: StrataOpt = None,
    shares: SharesOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lift of each arm over control with 95% intervals, the ratio check, and in words."""
    result, title = _analysis(
        name, from_file, arm, control, _split(metric), pre, stratify, shares, warehouse
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_analysis(result, title)


@experiment_app.command("report")
def experiment_report_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: FromFileOpt = None,
    arm: ArmOpt = None,
    control: ControlOpt = None,
    metric: MetricOpt = None,
    pre: PreOpt = None,
    stratify: StrataOpt = None,
    shares: SharesOpt = None,
    uplift_outcome: Annotated[
        str | None, typer.Option(help="With --features (file): add an uplift section.")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Feature columns for the uplift section.")
    ] = None,
    treatment: Annotated[
        str | None, typer.Option(help="Treated arm for the uplift section (default: first).")
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "experiment-report.html"
    ),
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the experiment report: one self-contained HTML file (works offline)."""
    from patron.measure import fit_uplift, read_outcome_file
    from patron.report import check_out_path, write_experiment_report

    check_out_path(out_file)
    result, title = _analysis(
        name, from_file, arm, control, _split(metric), pre, stratify, shares, warehouse
    )
    up = None
    if uplift_outcome or features:
        if from_file is None or not (uplift_outcome and features) or arm is None:
            raise UsageError(
                "The uplift section needs --from-file with --arm, --uplift-outcome and --features."
            )
        treated = [a for a in result.arms if a != result.control]
        up = fit_uplift(
            read_outcome_file(from_file),
            arm=arm,
            treatment=treatment or treated[0],
            control=result.control,
            outcome=uplift_outcome,
            features=_split([features]),
        )
    path = write_experiment_report(result, title, out_file, up)
    out.print(f"Report written to {path.resolve()}")


@experiment_app.command("uplift")
def experiment_uplift_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Per-customer data (CSV/Parquet).")
    ] = None,
    arm: Annotated[str | None, typer.Option("--arm", help="The file's arm column.")] = None,
    treatment: Annotated[
        str | None, typer.Option(help="The treated arm (experiment default: the first).")
    ] = None,
    control: Annotated[
        str | None, typer.Option(help="The control arm (experiment default: its control).")
    ] = None,
    outcome: Annotated[
        str, typer.Option(help="The outcome: a column (0/1 or amount), or conversion, revenue ...")
    ] = "conversion",
    features: Annotated[
        str | None,
        typer.Option(help="Feature columns, comma-separated (experiment default: attributes)."),
    ] = None,
    learner: Annotated[str, typer.Option(help="two-model or one-model.")] = "two-model",
    id_column: Annotated[
        str | None, typer.Option("--id", help="The file's customer id column (target list).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the ranked target list (.csv/.parquet).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (split, learners).")] = 0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write the --out list even when the ranking is no better than random.",
        ),
    ] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who is persuadable: fit an uplift learner, evaluate it (Qini), rank customers.

    For a stored experiment the outcomes come from its window and the features default to
    the customer attributes (customers, value tier, CLV, segment) and pre-period outcomes.
    """
    from patron.measure import OUTCOME_METRICS, experiment_table, fit_uplift, read_outcome_file

    if (name is None) == (from_file is None):
        raise UsageError("Give an experiment NAME or --from-file FILE (not both).")
    if out_file is not None:
        _check_table_file(out_file)
    with contextlib.ExitStack() as stack:
        if from_file is not None:
            if arm is None or treatment is None or control is None or not features:
                raise UsageError("--from-file needs --arm, --treatment, --control and --features.")
            table = read_outcome_file(from_file)
            arm_col, ids = arm, id_column
            feats = _split([features])
        else:
            wh = stack.enter_context(_open(warehouse))
            table, exp = experiment_table(wh, str(name))
            arm_col, ids = "arm", "customer_id"
            treatment = treatment or exp.treatments[0]
            control = control or exp.control
            skip = {"customer_id", "arm", "stratum", *OUTCOME_METRICS}
            feats = _split([features]) if features else [c for c in table.columns if c not in skip]
        result = fit_uplift(
            table,
            arm=arm_col,
            treatment=treatment,
            control=control,
            outcome=outcome,
            features=feats,
            learner=learner,
            id_column=ids,
            seed=seed,
        )
    if out_file is not None and not result.beats_random and not force:
        d = result.to_dict()
        raise DataError(
            f"The uplift ranking is no better than random (Qini coefficient "
            f"{d['qini_coefficient']:.5f}; random rankings reach "
            f"{d['qini_coefficient_random_rankings_p95']:.5f} at their 95th percentile), so "
            f"no target list was written to {out_file}: targeting by it would not pay. "
            "Add --force to write it anyway."
        )
    if out_file is not None:
        _write_table_file(result.target_list(ids or "row"), out_file)
    if as_json:
        _emit_json(result.to_dict())
        return
    d = result.to_dict()
    out.print(
        f"{learner} uplift of {treatment!r} vs {control!r} on {outcome}: trained on "
        f"{result.n_train:,}, evaluated on {result.n_test:,} held-out customers "
        f"({len(feats)} features)."
    )
    beats = d["qini_coefficient"] > d["qini_coefficient_random_rankings_p95"]
    out.print(
        f"Qini coefficient {d['qini_coefficient']:.5f} (random rankings: 95th percentile "
        f"{d['qini_coefficient_random_rankings_p95']:.5f}) -> "
        + ("the ranking finds persuadable customers." if beats else "no better than random.")
    )
    out.print(
        "Uplift among the top customers: "
        + ", ".join(f"top {k}: {v:+.4g}" for k, v in d["uplift_at"].items())
    )
    if out_file is not None:
        out.print(
            f"Ranked target list written to {out_file}"
            + ("." if result.beats_random else " (--force: its ranking is no better than random).")
        )
