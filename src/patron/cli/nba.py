"""Customize: patron nba CUSTOMER (real time, from the store) and patron nba batch (engine)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patron.cli._common import (
    JsonOpt,
    WarehouseOpt,
    _check_table_file,
    _emit_json,
    _open,
    _write_table_file,
    app,
    out,
)
from patron.cli.interact import StoreOpt, _open_store, _parse_time
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.customize.nba import Decision


def _print_decision(d: Decision) -> None:
    out.rule(f"Next best action for {d.customer_id} on {d.channel}")
    if d.action is not None:
        a = d.action
        price = f" at {a.price:,.2f}" if a.price is not None else ""
        out.print(f"Offer {a.offer_id}: {a.name}{price}")
    out.print(d.reason[0].upper() + d.reason[1:] + ".")
    for c in d.candidates:
        if c.status == "chosen":
            continue
        out.print(f"  {c.offer_id} ({c.status} at {c.step}): {c.reason}")
    if d.id is not None:
        out.print(f"Decision {d.id} logged (inputs {d.inputs_hash[:12]}).")


@app.command("nba")
def nba_cmd(
    customer: Annotated[
        str, typer.Argument(help="Customer id, e-mail, phone or card; or `batch`.")
    ],
    channel: Annotated[str, typer.Option("--channel", "-c", help="The channel.")] = "email",
    at: Annotated[str | None, typer.Option("--at", help="When (ISO 8601; default now).")] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="batch: who, e.g. \"tier == 'MGC'\".")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="batch: write the actions (.csv or .parquet).")
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not record the decision (a preview).")
    ] = False,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The next best action for a customer (from the store, logged with its reasons).

    `patron nba batch --audience EXPR [--out FILE]` chooses for a whole audience in the
    warehouse engine (offers, consent and contact policy read from the store; the facts,
    consents and touch points the store last exported with `patron interact export`).
    """
    when = _parse_time(at)
    if customer == "batch":
        _batch(channel, when, audience, out_file, store, warehouse, json_out)
        return
    if audience is not None or out_file is not None:
        raise UsageError("--audience and --out are for `patron nba batch`.")
    from patron.customize.nba import next_best_action

    with _open_store(store) as handle:
        decision = next_best_action(handle, customer, channel, at=when, log=not no_log)
    if json_out:
        _emit_json(decision.to_dict())
        return
    _print_decision(decision)


def _batch(
    channel: str,
    when: object,
    audience: str | None,
    out_file: Path | None,
    store: str | None,
    warehouse: str | None,
    json_out: bool,
) -> None:
    from datetime import datetime

    from patron.customize.batch import nba_batch
    from patron.customize.offers import list_offers
    from patron.interact.policy import contact_policy
    from patron.interact.vocabulary import to_utc

    assert isinstance(when, datetime)
    if out_file is not None:
        _check_table_file(out_file)
    with _open_store(store) as handle:
        offers = list_offers(handle)
        policy = contact_policy(handle)
    wh = _open(warehouse)
    try:
        table = nba_batch(
            wh, offers, channel=channel, at=to_utc(when), policy=policy, audience=audience
        )
        summary = (
            table.group_by("offer_id")
            .aggregate(customers=table.count(), expected_value=table.expected_value.sum())
            .order_by("offer_id")
            .to_pyarrow()
            .to_pylist()
        )
        if out_file is not None:
            _write_table_file(table.order_by("customer_id"), out_file)
    finally:
        wh.close()
    total = sum(int(r["customers"]) for r in summary)
    value = sum(float(r["expected_value"] or 0.0) for r in summary)
    if json_out:
        _emit_json(
            {
                "channel": channel,
                "customers_with_action": total,
                "expected_value": value,
                "by_offer": summary,
                "out": str(out_file) if out_file else None,
            }
        )
        return
    out.print(
        f"{total:,} customer(s) get an offer on {channel}; expected value {value:,.2f} in all."
    )
    for r in summary:
        out.print(
            f"  {r['offer_id']}: {int(r['customers']):,} customers, expected value "
            f"{float(r['expected_value'] or 0):,.2f}"
        )
    if out_file is not None:
        out.print(f"Actions written to {out_file}.")
