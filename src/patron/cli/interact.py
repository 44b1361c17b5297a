"""Interact: patron store upgrade|status, patron interact ..., patron publish, patron agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from patron.cli._common import JsonOpt, _emit_json, app, out
from patron.interact import (
    Touchpoint,
    load_touchpoints,
    log_touchpoint,
)
from patron.settings import Settings
from patron.store import Store, open_store, store_status, upgrade_store

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        help="Operational store URL (default: $PATRON_STORE or sqlite:///patron.store.sqlite).",
        show_default=False,
    ),
]

store_app = typer.Typer(help="The operational store: migrations and status.", no_args_is_help=True)
interact_app = typer.Typer(
    help="Interact: touch points, consent, contact policy, questions and answers.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")
app.add_typer(interact_app, name="interact")


def _store_url(store: str | None) -> str:
    return store or Settings().store


def _open_store(store: str | None) -> Store:
    return open_store(_store_url(store))


@store_app.command("upgrade")
def store_upgrade_cmd(
    store: StoreOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    json_out: JsonOpt = False,
) -> None:
    """Create the store or bring it to this Patron's revision (keeps every row)."""
    url = _store_url(store)
    before, after = upgrade_store(url, revision)
    if json_out:
        _emit_json({"store": url, "before": before, "after": after})
        return
    if before == after:
        out.print(f"The store is at revision {after} already; nothing to do.")
    else:
        out.print(f"Store upgraded from revision {before or '(empty)'} to {after}.")


@store_app.command("status")
def store_status_cmd(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """Show the store's revision, the live publication and its row counts."""
    status = store_status(_store_url(store))
    if json_out:
        _emit_json(status.to_dict())
        return
    state = "current" if status.current else f"needs `patron store upgrade` (to {status.head})"
    out.print(f"Store {status.url}: revision {status.revision or '(empty)'} — {state}.")
    out.print(
        f"Live publication: {status.publication}"
        if status.publication is not None
        else "No publication yet (run `patron publish`)."
    )
    table = Table(title="Rows", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in status.counts.items():
        table.add_row(name, f"{n:,}")
    out.print(table)


@interact_app.command("log")
def interact_log_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    channel: Annotated[str, typer.Option(help="web, email, phone, store, app, mail or sms.")],
    kind: Annotated[
        str,
        typer.Option(
            help="purchase, inquiry, complaint, service, visit, offer_shown, offer_accepted, "
            "offer_declined, answer or question_declined."
        ),
    ],
    direction: Annotated[str, typer.Option(help="inbound or outbound.")] = "inbound",
    purpose: Annotated[
        str | None, typer.Option(help="marketing, profiling or service (default by kind).")
    ] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name.")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent or system that logged it.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text.")] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key: the same key is stored once.")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Log one touch point."""
    tp = Touchpoint(
        customer_id=customer,
        channel=channel,
        kind=kind,
        direction=direction,
        purpose=purpose,
        campaign=campaign,
        agent=agent,
        note=note,
        idempotency_key=key,
    ).validated()
    with _open_store(store) as handle:
        tp_id = log_touchpoint(handle, tp)
    if json_out:
        _emit_json({**tp.to_dict(), "id": tp_id})
        return
    out.print(
        f"Touch point {tp_id} logged: {tp.direction} {tp.kind} on {tp.channel} for {customer}."
    )


@interact_app.command("load")
def interact_load_cmd(
    file: Annotated[Path, typer.Argument(help="CSV file of touch points.")],
    store: StoreOpt = None,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 5_000,
    json_out: JsonOpt = False,
) -> None:
    """Load touch points from a CSV file (loading it again adds nothing)."""
    with _open_store(store) as handle:
        result = load_touchpoints(handle, file, batch_size=batch_size)
    if json_out:
        _emit_json(result.to_dict())
        return
    out.print(
        f"{file}: {result.rows:,} touch points read, {result.stored:,} new "
        f"({result.rows - result.stored:,} already stored)."
    )
