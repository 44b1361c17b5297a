"""Customize: patron campaign create|export|analyze (an experiment whose treated get the NBA)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patron.cli._common import JsonOpt, WarehouseOpt, _emit_json, _open, _parse_date, app, out
from patron.cli.interact import StoreOpt, _open_store, _parse_time

if TYPE_CHECKING:
    from patron.customize.campaigns import CampaignAnalysis

campaign_app = typer.Typer(
    help="Campaigns: the next best action for a treated audience, measured against a holdout.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")
AtOpt = Annotated[str | None, typer.Option("--at", help="When (ISO 8601; default now).")]


@campaign_app.command("create")
def campaign_create_cmd(
    name: Annotated[str, typer.Argument(help="The campaign's (and its experiment's) name.")],
    offers: Annotated[
        list[str] | None, typer.Option("--offers", help="Offer ids (default: every offer).")
    ] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="Who, e.g. \"tier in ('MVC', 'MGC')\".")
    ] = None,
    channel: Annotated[str, typer.Option("--channel", "-c", help="The channel.")] = "email",
    holdout: Annotated[float, typer.Option("--holdout", help="Share held out.")] = 0.1,
    start: Annotated[
        str | None, typer.Option("--start", help="Send day (YYYY-MM-DD; default: --at's day).")
    ] = None,
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks measured after the send.")] = 4,
    at: AtOpt = None,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a campaign: a holdout experiment (stratified by tier) and each customer's action."""
    from patron.cli._common import _split
    from patron.customize.campaigns import create_campaign

    wh = _open(warehouse)
    try:
        with _open_store(store) as handle:
            camp = create_campaign(
                handle, wh, name, offers=_split(offers) or None, audience=audience,
                channel=channel, holdout=holdout, start=_parse_date(start, "--start"),
                weeks=weeks, at=_parse_time(at),
            )  # fmt: skip
    finally:
        wh.close()
    if json_out:
        _emit_json(camp.to_dict())
        return
    treated, held = camp.counts.get("treated", 0), camp.counts.get("holdout", 0)
    with_action = camp.actions.get("treated", 0)
    out.print(
        f"Campaign {name}: {treated:,} treated and {held:,} held-out customers; "
        f"{with_action:,} treated have a next best action on {camp.channel} among "
        f"{len(camp.offers)} offer(s); measured from {camp.start} to {camp.end}. "
        f"Next: patron campaign export {name} --out FILE."
    )


@campaign_app.command("export")
def campaign_export_cmd(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    out_file: Annotated[Path, typer.Option("--out", help="The contact list (.csv).")],
    at: AtOpt = None,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the contact list (contactable treated customers, offer, price) and log contacts."""
    from patron.customize.campaigns import export_campaign
    from patron.data.sources import check_output_file

    check_output_file(out_file, (".csv",))
    wh = _open(warehouse)
    try:
        with _open_store(store) as handle:
            result = export_campaign(handle, wh, name, out_file, at=_parse_time(at))
    finally:
        wh.close()
    if json_out:
        _emit_json(result.to_dict())
        return
    left = ", ".join(f"{n:,} {why}" for why, n in result.left_out.items()) or "nobody"
    out.print(
        f"{result.contacts:,} contacts written to {out_file} and logged as touch points; left "
        f"out: {left}; {result.aligned_prices:,} price(s) aligned to a live quote."
    )


def _print_campaign(result: CampaignAnalysis) -> None:
    from patron.cli.experiment import _print_analysis

    out.print(f"Window {result.start} to {result.end}; treated against the holdout.")
    _print_analysis(result.overall, f"campaign {result.campaign}")
    for offer, analysis in result.by_offer.items():
        _print_analysis(analysis, f"offer {offer}")
    for note in result.notes:
        out.print(f"note: {note}")


def _points(rate_difference: float) -> str:
    """A difference of two rates in percentage points."""
    return f"{100 * rate_difference:+.1f} points"


@campaign_app.command("analyze")
def campaign_analyze_cmd(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    warehouse: WarehouseOpt = None,
    store: StoreOpt = None,
    apply_uplift: Annotated[
        bool,
        typer.Option(
            "--apply-uplift",
            help=(
                "Write each offer's measured incremental response (overall and per needs "
                "segment) into the offer, for the next best action to use."
            ),
        ),
    ] = False,
    min_per_arm: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --apply-uplift: fewest customers per arm, and contacted, for an uplift "
            "to be written (default 100).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Incremental conversion, revenue and margin against the holdout, overall and per offer.

    The result is kept with the campaign in the store, for the console and the service.
    """
    from patron.customize.campaigns import analyze_campaign, measure_uplift, save_analysis
    from patron.customize.campaigns import apply_uplift as write_uplift
    from patron.errors import UsageError

    if min_per_arm is not None and not apply_uplift:
        raise UsageError("--min-per-arm applies with --apply-uplift; add it, or leave both out.")
    wh = _open(warehouse)
    try:
        with _open_store(store) as handle:
            result = analyze_campaign(wh, name)
            save_analysis(handle, result)  # kept whatever happens to the uplift below
            measured = measure_uplift(wh, handle, name, require_contacts=apply_uplift)
            written = {}
            if apply_uplift:
                written = write_uplift(handle, measured, min_per_arm=min_per_arm or 100)
    finally:
        wh.close()
    if json_out:
        _emit_json(
            {
                **result.to_dict(),
                "uplift": [m.to_dict() for m in measured],
                "uplift_written": written,
            }
        )
        return
    _print_campaign(result)
    for m in measured:
        o = m.overall
        out.print(
            f"offer {m.offer_id}: response = {m.response}; {o.treated_rate:.1%} of "
            f"{o.treated:,} treated ({o.contacted:,} contacted) against {o.holdout_rate:.1%} of "
            f"{o.holdout:,} held out: uplift on a contacted customer {_points(o.uplift)} "
            f"(95% interval {_points(o.ci_low)} to {_points(o.ci_high)})"
            + ("; too few contacted to tell" if o.clipped else "")
        )
        for seg, e in m.by_segment.items():
            out.print(
                f"    {seg}: {_points(e.uplift)} ({_points(e.ci_low)} to {_points(e.ci_high)}; "
                f"{e.treated:,} treated, {e.contacted:,} contacted, {e.holdout:,} held out)"
            )
    for offer_id, what in written.items():
        if what["written"]:
            out.print(
                f"offer {offer_id}: uplift written ({what['uplift']:+.4f}; segments "
                f"{len(what['uplift_by_segment'])})."
            )
        else:
            out.print(f"offer {offer_id}: not written ({what['why']}).")
