"""Identify: patron identify run|explain|merge|split|undo|history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from patron.cli._common import JsonOpt, WarehouseOpt, _emit_json, _open, _split, app, err, out

if TYPE_CHECKING:
    from patron.identity import RunReport

#: :data:`patron.identity.probabilistic.DEFAULT_THRESHOLD`, written out so that ``--help`` need
#: not import the identity package (tests/test_cli_startup.py checks they agree).
DEFAULT_THRESHOLD = 0.9

identify_app = typer.Typer(
    help="Identify: one customer across cards, e-mails, phones and names.",
    no_args_is_help=True,
)
app.add_typer(identify_app, name="identify")


def _print_run(report: RunReport) -> None:
    what = {"auto": "Resolved", "merge": "Merged", "split": "Split", "undo": "Undid"}
    out.print(
        f"{what.get(report.kind, 'Ran')} (run {report.run}): {report.records:,} identity "
        f"records are {report.customers:,} customers."
    )
    if report.note:
        out.print(f"Reason: {report.note}")
    changes = (
        f"{report.new_customers:,} new customers, {report.merged_customers:,} merged away, "
        f"{report.split_customers:,} split; {report.changed_records:,} records changed."
    )
    out.print(changes)
    table = Table(title="Records by the rule that linked them", title_justify="left")
    table.add_column("rule")
    table.add_column("records", justify="right")
    table.add_column("links", justify="right")
    rules = list(dict.fromkeys([*report.records_by_rule, *report.links_by_rule]))
    for rule in rules:
        links = report.links_by_rule.get(rule)
        table.add_row(
            rule, f"{report.records_by_rule.get(rule, 0):,}", "-" if links is None else f"{links:,}"
        )
    out.print(table)
    for kind, counts in report.identifiers.items():
        if counts["invalid"]:
            firsts = ", ".join(
                f"{e['source']}:{e['record_id']} ({e['value']!r})" for e in counts["first_invalid"]
            )
            more = ", ..." if counts["invalid"] > len(counts["first_invalid"]) else ""
            out.print(
                f"{counts['invalid']:,} invalid {kind} value(s) not used to link: {firsts}{more}"
            )
        if counts["placeholder"]:
            out.print(f"{counts['placeholder']:,} placeholder {kind} value(s) ignored.")
    for kind, refused in report.refused.items():
        largest = ", ".join(f"{r['value']} ({r['records']:,})" for r in refused["largest"])
        out.print(
            f"Refused {refused['values']:,} {kind} value(s) shared by too many records "
            f"({refused['records']:,} records; largest: {largest}); raise --max-shared to use "
            "them."
        )
    if report.probabilistic.get("note"):
        out.print(f"Probabilistic matching: {report.probabilistic['note']}.")
    if report.customer_id_conflicts:
        out.print(
            f"{report.customer_id_conflicts:,} source customer id(s) belong to several resolved "
            "customers after a split; their transactions go to the oldest."
        )


@identify_app.command("run")
def identify_run_cmd(
    deterministic_only: Annotated[
        bool,
        typer.Option(
            "--deterministic-only", help="Link by shared e-mail, phone, card and id only."
        ),
    ] = False,
    threshold: Annotated[
        float,
        typer.Option(help="Match probability a probabilistic pair needs to link (0 to 1)."),
    ] = DEFAULT_THRESHOLD,
    region: Annotated[
        str, typer.Option(help="Country of phone numbers written without +prefix (ISO code).")
    ] = "GB",
    max_shared: Annotated[
        int,
        typer.Option(
            help="Refuse an identifier shared by more records than this (e.g. a shop's "
            "own phone number)."
        ),
    ] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the probabilistic model's sampling.")] = 0,
    priority: Annotated[
        str | None,
        typer.Option(
            "--source-priority",
            help="Sources most trusted first, e.g. crm,web,pos: where a person's records "
            "disagree on an e-mail, phone or card, the most trusted source's value is used.",
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve the identity records into customers (identity_map), keeping ids stable."""
    from patron.identity import ResolveOptions, resolve_identities

    options = ResolveOptions(
        deterministic_only=deterministic_only,
        threshold=threshold,
        region=region,
        max_shared=max_shared,
        seed=seed,
        source_priority=tuple(p.strip() for p in (priority or "").split(",") if p.strip()),
    )
    options.check()
    with _open(warehouse) as wh, err.status("Resolving identities ..."):
        report = resolve_identities(wh, options)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_run(report)


@identify_app.command("explain")
def identify_explain_cmd(
    record_a: Annotated[str, typer.Argument(help="A record: SOURCE:RECORD_ID or RECORD_ID.")],
    record_b: Annotated[str, typer.Argument(help="Another record.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why two records are, or are not, one customer (match weight per field)."""
    from patron.identity import explain_records

    with _open(warehouse) as wh:
        result = explain_records(wh, record_a, record_b)
    if as_json:
        _emit_json(result)
        return
    left, right = result["records"]
    verdict = "the same customer" if result["same_customer"] else "different customers"
    out.print(
        f"{left['source']}:{left['record_id']} ({left['resolved_id']}) and "
        f"{right['source']}:{right['record_id']} ({right['resolved_id']}) are {verdict}."
    )
    if result["shared_identifiers"]:
        out.print(f"They share: {', '.join(result['shared_identifiers'])}.")
    prob = result["probabilistic"]
    if prob is None:
        out.print(
            "No probabilistic model yet (run `patron identify run` without --deterministic-only)."
        )
        return
    linked = "linked" if result["linked_by_splink"] else "not linked"
    out.print(
        f"Probabilistic model (run {prob['run']}): match probability "
        f"{prob['match_probability']:.4f}, match weight {prob['match_weight']:.2f} "
        f"({linked} by it in the latest matching run)."
    )
    table = Table(title_justify="left")
    table.add_column("field")
    table.add_column(left["record_id"])
    table.add_column(right["record_id"])
    table.add_column("comparison")
    table.add_column("weight", justify="right")
    fields = {"given_name_surname": ("given_name", "surname")}
    if prob["prior_weight"] is not None:
        table.add_row("(prior)", "", "", "two random records", f"{prob['prior_weight']:.2f}")
    for field, info in prob["weights"].items():
        cols = fields.get(field, (field,))
        weight = info["match_weight"]
        table.add_row(
            field,
            " ".join(str(left.get(c) or "-") for c in cols),
            " ".join(str(right.get(c) or "-") for c in cols),
            str(info["level"]),
            "-" if weight is None else f"{weight:+.2f}",
        )
    out.print(table)


def _done(report: RunReport, as_json: bool) -> None:
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_run(report)


ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")]


@identify_app.command("merge")
def identify_merge_cmd(
    first: Annotated[str, typer.Argument(help="A customer id (or SOURCE:RECORD_ID).")],
    second: Annotated[str, typer.Argument(help="Another customer id (or record).")],
    reason: ReasonOpt,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make two customers one (the older id survives); later runs keep it; undoable."""
    from patron.identity import merge_customers

    with _open(warehouse) as wh:
        report = merge_customers(wh, first, second, reason)
    _done(report, as_json)


@identify_app.command("split")
def identify_split_cmd(
    customer: Annotated[str, typer.Argument(help="The resolved customer id.")],
    records: Annotated[
        list[str],
        typer.Option(
            "--records",
            help="Records to split off (SOURCE:RECORD_ID), repeatable or comma-separated.",
        ),
    ],
    reason: ReasonOpt,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Separate records from a customer into another one; later runs keep it; undoable."""
    from patron.identity import split_customer

    with _open(warehouse) as wh:
        report = split_customer(wh, customer, _split(records), reason)
    _done(report, as_json)


@identify_app.command("undo")
def identify_undo_cmd(
    run: Annotated[int, typer.Argument(help="The run (or merge/split) number to undo.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo the latest run exactly, or an earlier merge or split."""
    from patron.identity import undo

    with _open(warehouse) as wh:
        report = undo(wh, run)
    _done(report, as_json)


@identify_app.command("history")
def identify_history_cmd(
    customer: Annotated[str, typer.Argument(help="The resolved customer id.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The runs and decisions that gave records to, or took them from, a customer."""
    from patron.identity import customer_history

    with _open(warehouse) as wh:
        events = customer_history(wh, customer)
    if as_json:
        _emit_json({"customer_id": customer, "events": events})
        return
    table = Table(title=f"History of {customer}", title_justify="left")
    for col in ("run", "kind", "at", "gained", "lost", "records", "reason"):
        table.add_column(col, justify="right" if col in {"run", "gained", "lost"} else "left")
    for e in events:
        shown: list[Any] = e["records"][:3]
        more = ", ..." if e["gained"] + e["lost"] > len(shown) else ""
        table.add_row(
            str(e["run"]),
            e["kind"],
            e["at"],
            f"{e['gained']:,}",
            f"{e['lost']:,}",
            ", ".join(shown) + more,
            e["note"],
        )
    out.print(table)
