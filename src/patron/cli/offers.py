"""Customize: patron offers load|list|show|remove (the offer catalogue in the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.cli._common import JsonOpt, _emit_json, app, out
from patron.cli.interact import StoreOpt, _open_store

offers_app = typer.Typer(
    help="The offer catalogue: load, list, show, remove.", no_args_is_help=True
)
app.add_typer(offers_app, name="offers")


@offers_app.command("load")
def offers_load_cmd(
    file: Annotated[Path, typer.Argument(help="Offers as YAML (a list) or CSV.")],
    replace_all: Annotated[
        bool, typer.Option("--replace", help="Make the catalogue exactly this file.")
    ] = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load offers from a file (checked first; one bad offer changes nothing)."""
    from patron.customize.offers import load_offers

    with _open_store(store) as handle:
        loaded = load_offers(handle, file, replace_all=replace_all)
    if json_out:
        _emit_json({"loaded": [o.to_dict() for o in loaded]})
        return
    out.print(f"{len(loaded)} offer(s) loaded from {file}: {', '.join(o.id for o in loaded)}.")


@offers_app.command("list")
def offers_list_cmd(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the offers of the catalogue."""
    from patron.customize.offers import list_offers

    with _open_store(store) as handle:
        offers = list_offers(handle)
    if json_out:
        _emit_json({"offers": [o.to_dict() for o in offers]})
        return
    if not offers:
        out.print("The catalogue is empty; load offers with `patron offers load FILE`.")
        return
    for o in offers:
        what = o.product or o.category or "-"
        price = f"{o.price:,.2f}" if o.price is not None else "-"
        out.print(
            f"{o.id}: {o.name} ({o.kind}; {what}; price {price}; margin "
            f"{o.unit_margin():,.2f}; {', '.join(o.channels)})"
            + (f" if {o.eligibility}" if o.eligibility else "")
        )


@offers_app.command("show")
def offers_show_cmd(
    offer_id: Annotated[str, typer.Argument(help="The offer's id.")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one offer."""
    from patron.customize.offers import get_offer

    with _open_store(store) as handle:
        offer = get_offer(handle, offer_id)
    if json_out:
        _emit_json(offer.to_dict())
        return
    for key, value in offer.to_dict().items():
        if value not in (None, {}, []):
            out.print(f"{key}: {value}")


@offers_app.command("remove")
def offers_remove_cmd(
    offer_id: Annotated[str, typer.Argument(help="The offer's id.")],
    store: StoreOpt = None,
) -> None:
    """Remove an offer (its past decisions and quotes stay)."""
    from patron.customize.offers import delete_offer

    with _open_store(store) as handle:
        delete_offer(handle, offer_id)
    out.print(f"Offer {offer_id} removed.")
