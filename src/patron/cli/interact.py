"""Interact: patron store upgrade|status, patron interact ..., patron publish, patron agent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from patron.cli._common import JsonOpt, WarehouseOpt, _emit_json, _open, app, err, out
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.data.warehouse import Warehouse
    from patron.interact import AgentScreen, NextQuestion
    from patron.store import Store
    from patron.store.publish import PublishResult

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


def redact_url(wh: Warehouse) -> str:
    """The warehouse's URL for the record, without a password."""
    url = getattr(wh, "url", "") or ""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.split("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def _store_url(store: str | None) -> str:
    from patron.settings import Settings

    return store or Settings.load().store


def _open_store(store: str | None) -> Store:
    from patron.store import open_store

    return open_store(_store_url(store))


@store_app.command("upgrade")
def store_upgrade_cmd(
    store: StoreOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    json_out: JsonOpt = False,
) -> None:
    """Create the store or bring it to this Patron's revision (keeps every row)."""
    from patron.store import upgrade_store

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
    from patron.store import store_status

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
    from patron.interact import Touchpoint, log_touchpoint

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
    from patron.interact import load_touchpoints

    with _open_store(store) as handle:
        result = load_touchpoints(handle, file, batch_size=batch_size)
    if json_out:
        _emit_json(result.to_dict())
        return
    out.print(
        f"{file}: {result.rows:,} touch points read, {result.stored:,} new "
        f"({result.rows - result.stored:,} already stored)."
    )


ChannelOpt = Annotated[
    str, typer.Option("--channel", "-c", help="web, email, phone, store, app, mail or sms.")
]


@interact_app.command("consent")
def interact_consent_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    state: Annotated[str, typer.Argument(help="granted, denied or withdrawn.")],
    channel: ChannelOpt,
    purpose: Annotated[str, typer.Option(help="marketing, profiling or service.")],
    source: Annotated[str, typer.Option(help="Where it was given (web form, call, ...).")],
    evidence: Annotated[
        str | None, typer.Option(help="Evidence (form text, recording id).")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a consent decision (channel `all` covers every channel)."""
    from patron.interact import set_consent

    with _open_store(store) as handle:
        record = set_consent(
            handle, customer, channel, purpose, state, source=source, evidence=evidence
        )
    if json_out:
        _emit_json(record.to_dict())
        return
    scope = "every channel" if channel == "all" else channel
    out.print(f"Consent recorded: {purpose} on {scope} {state} for {customer} ({source}).")


@interact_app.command("can-contact")
def interact_can_contact_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    channel: ChannelOpt,
    purpose: Annotated[str, typer.Option(help="marketing, profiling or service.")] = "marketing",
    at: Annotated[
        str | None, typer.Option(help="When (ISO 8601; default now, UTC if no zone).")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Whether the customer may be contacted now (consent and the contact policy)."""
    from patron.interact import can_contact

    when = _parse_time(at)
    with _open_store(store) as handle:
        decision = can_contact(handle, customer, channel, when, purpose)
    if json_out:
        _emit_json(decision.to_dict())
        return
    verdict = "Yes" if decision.allowed else "No"
    out.print(f"{verdict}: {decision.reason} (rule: {decision.rule}).")


@interact_app.command("questions")
def interact_questions_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(help="Question bank (YAML). Default: the example for the simulated shop."),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load a question bank into the store (checked first; replaces the previous bank)."""
    from patron.interact import example_question_bank, install_question_bank, load_question_bank

    path = file or example_question_bank()
    bank = load_question_bank(path)
    with _open_store(store) as handle:
        n = install_question_bank(handle, bank, source=str(path))
    if json_out:
        _emit_json({"file": str(path), "questions": [q.to_dict() for q in bank.questions]})
        return
    out.print(f"{n} questions loaded from {path}: {', '.join(q.id for q in bank.questions)}.")


def _print_question(q: NextQuestion | None, why_none: str) -> None:
    if q is None:
        out.print(f"No question to ask: {why_none}.")
        return
    choices = f" [{', '.join(q.question.answers)}]" if q.question.answers else ""
    out.print(f"Ask ({q.question.id}): {q.question.text}{choices}")
    out.print(f"  Purpose told to the customer: {q.question.purpose}")
    out.print(f"  Why this one: {q.reason}")


@interact_app.command("next")
def interact_next_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id, e-mail, phone or card.")],
    channel: ChannelOpt = "phone",
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The one question to ask this customer now, and why (or why none)."""
    from patron.interact import agent_screen

    with _open_store(store) as handle:
        screen = agent_screen(handle, customer, channel)
    if json_out:
        _emit_json(
            {
                "customer_id": screen.customer_id,
                "next_question": screen.next_question.to_dict() if screen.next_question else None,
                "no_question_reason": screen.no_question_reason or None,
            }
        )
        return
    _print_question(screen.next_question, screen.no_question_reason)


@interact_app.command("answer")
def interact_answer_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    question_id: Annotated[str, typer.Argument(help="Question id (see `patron interact next`).")],
    value: Annotated[str, typer.Argument(help="The answer.")],
    channel: ChannelOpt = "phone",
    agent: Annotated[str | None, typer.Option(help="Who recorded it.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Idempotency key.")] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a customer's answer to a question (a touch point and a fact)."""
    from patron.interact import record_answer

    with _open_store(store) as handle:
        fact = record_answer(
            handle, customer, question_id, value, channel=channel, agent=agent, idempotency_key=key
        )
    if json_out:
        _emit_json(fact.to_dict())
        return
    kind = "preference" if fact.is_preference else "fact"
    out.print(f"Recorded {kind} {fact.attribute} = {fact.value!r} for {customer}.")


@interact_app.command("decline")
def interact_decline_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    question_id: Annotated[str, typer.Argument(help="Question id.")],
    channel: ChannelOpt = "phone",
    store: StoreOpt = None,
) -> None:
    """Record that the customer declined a question (it waits for its cool-down)."""
    from patron.interact import decline_question

    with _open_store(store) as handle:
        decline_question(handle, customer, question_id, channel=channel)
    out.print(f"Recorded: {customer} declined question {question_id}.")


def publish_people(
    wh: Warehouse, store: Store, *, source: str, batch_size: int = 20_000
) -> PublishResult:
    """Publish with what the identity step knows (the one recipe for every face).

    Every record's identifiers for lookup, the phone region the identity run read numbers
    in, and each person's e-mail and phone chosen by source priority (all None before the
    first identity run).
    """
    from patron.identity import lookup_identifiers, phone_region, primary_identifiers
    from patron.store.publish import publish_profiles

    result = publish_profiles(
        wh,
        store,
        source=source,
        batch_size=batch_size,
        extra_identifiers=lookup_identifiers(wh),
        phone_region=phone_region(wh),
        primary_identifiers=primary_identifiers(wh),
    )
    publish_overview(wh, store)
    return result


def publish_overview(wh: Warehouse, store: Store) -> None:
    """Publish the manager's overview (the report's sections) for the console.

    Before any value run the overview says what is missing instead, so an old overview never
    stands beside new profiles.
    """
    from patron.errors import DataError
    from patron.report._render import Money
    from patron.report.customer_value import overview
    from patron.settings import Settings
    from patron.store.overview import write_overview

    settings = Settings.load()
    try:
        data = overview(wh, Money(settings.currency, settings.money_decimals))
    except DataError as exc:
        data = {"missing": str(exc)}
    write_overview(store, data)


@app.command("publish")
def publish_cmd(
    warehouse: WarehouseOpt = None,
    store: StoreOpt = None,
    batch_size: Annotated[int, typer.Option(help="Customers per batch.")] = 20_000,
    json_out: JsonOpt = False,
) -> None:
    """Publish every customer's profile from the warehouse into the store (atomically)."""
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1.")
    wh = _open(warehouse)
    try:
        with _open_store(store) as handle, err.status("Publishing profiles ..."):
            result = publish_people(wh, handle, source=redact_url(wh), batch_size=batch_size)
    finally:
        wh.close()
    if json_out:
        _emit_json(result.to_dict())
        return
    previous = f" (replacing publication {result.previous})" if result.previous else ""
    out.print(
        f"Publication {result.publication} is live{previous}: {result.customers:,} customers, "
        f"{result.identifiers:,} identifiers, in {result.seconds:.1f} s."
    )
    if not result.has_segments:
        out.print("No needs segments to describe yet (run `patron segment`).")


def _print_screen(screen: AgentScreen) -> None:
    data = screen.to_dict()
    p = screen.profile
    ids = ", ".join(f"{k} {v}" for k, v in screen.identifiers if k != "customer_id")
    out.rule(f"Customer {screen.customer_id}")
    out.print(f"Who: {p.customer_type or 'customer'}" + (f"; {ids}" if ids else ""))
    out.print(f"Value: {data['value']['text']}")
    if p.loyalty:
        out.print(f"Loyalty: {p.loyalty}")
    if p.segment:
        out.print(f"Needs: {p.segment} - {p.segment_description or 'no description'}")
    if p.relationship:
        wanted = p.relationship_recommended
        aim = f"; the margin calls for {wanted}" if wanted and wanted != p.relationship else ""
        out.print(f"Relationship: {p.relationship}{aim}", markup=False)
        for action in (p.relationship_actions or "").splitlines():
            out.print(f"  - {action}", markup=False)
    if screen.facts:
        out.print("What we know:")
        for f in screen.facts:
            tag = " (preference)" if f.is_preference else ""
            out.print(f"  {f.attribute}: {f.value!r}{tag}, {f.recorded_at:%Y-%m-%d}")
    else:
        out.print("What we know: nothing told yet.")
    if screen.touchpoints:
        out.print("Recent touch points:")
        for t in screen.touchpoints:
            when = t.occurred_at.strftime("%Y-%m-%d %H:%M") if t.occurred_at else ""
            extra = f" ({t.campaign})" if t.campaign else ""
            out.print(f"  {when} {t.direction} {t.kind} on {t.channel}{extra}")
    _print_question(screen.next_question, screen.no_question_reason)
    if screen.offer:
        out.print(f"Offer: {screen.offer}")
    out.print("Script:")
    for line in screen.script:
        out.print(f"  - {line}")


@app.command("agent")
def agent_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id, e-mail, phone or card.")],
    channel: ChannelOpt = "phone",
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The agent screen: who, value, needs, what we know, what to ask, what to offer.

    What to offer is the customer's next best action (logged); while the offer catalogue is
    empty, the tier's action.
    """
    from patron.customize.agent import screen_with_offer
    from patron.value.tiers import TIER_ACTIONS

    with _open_store(store) as handle:
        screen, _, data = screen_with_offer(handle, customer, channel, fallback=TIER_ACTIONS)
    if json_out:
        _emit_json(data)
        return
    _print_screen(screen)


def _parse_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a time; use ISO 8601, e.g. 2026-03-01T10:00."
        ) from None


@interact_app.command("subject-export")
def interact_subject_export_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here instead of printing it.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Export everything the store holds about one customer (a data subject request), as JSON."""
    from patron.data.sources import check_output_file
    from patron.interact import export_customer

    if out_file is not None:
        check_output_file(out_file, (".json",))
    with _open_store(store) as handle:
        data = export_customer(handle, customer)
    if out_file is None:
        _emit_json(data)
        return
    tmp = out_file.with_name(f".{out_file.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(out_file)
    out.print(f"Everything stored about {customer} written to {out_file}.")


@interact_app.command("erase")
def interact_erase_cmd(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Erase a customer's personal data from the store and the warehouse.

    Store: profile, identifiers and facts deleted, touch points, consents, decisions and quotes
    anonymised. Warehouse: identity records (and their normalised copies) deleted, personal
    columns of ``customers`` blanked, exported facts deleted, free text and decisions' detail
    blanked. Transactions,
    aggregates and the pseudonymous identity map stay.
    """
    from patron.data import people
    from patron.identity import erase_identity
    from patron.interact import erase_customer
    from patron.store.export import erase_exported

    if not yes:
        raise UsageError(f"Erasing {customer} cannot be undone; add --yes to confirm.")
    with _open_store(store) as handle:
        result = erase_customer(handle, customer)
    with _open(warehouse) as wh:
        ids = people.source_ids(wh, customer)
        identity = erase_identity(wh, customer)
        blanked = people.erase_customer_attributes(wh, customer)
        exported = erase_exported(wh, ids)
    if json_out:
        _emit_json(
            {
                **result.to_dict(),
                "warehouse": {
                    "identity": identity.to_dict(),
                    "customers_blanked": blanked,
                    "exported": exported,
                },
            }
        )
        return
    out.print(
        f"Erased {customer} from the store: {result.profiles} profile rows, "
        f"{result.identifiers} identifiers, {result.facts} facts deleted; "
        f"{result.touchpoints_anonymised} touch points and {result.consents_anonymised} "
        "consent records anonymised."
    )
    out.print(
        f"From the warehouse: {identity.records} identity records "
        f"({identity.normalised_records} normalised copies, {identity.cached_values} cached "
        f"values) deleted, {blanked} customers rows blanked, exported facts and notes erased."
    )


@interact_app.command("export")
def interact_export_cmd(
    warehouse: WarehouseOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy touch points, facts and consents into warehouse tables (for measure and needs)."""
    from patron.store.export import export_to_warehouse

    wh = _open(warehouse)
    try:
        with _open_store(store) as handle:
            result = export_to_warehouse(handle, wh)
    finally:
        wh.close()
    if json_out:
        _emit_json(result.to_dict())
        return
    out.print(
        "Exported to the warehouse: "
        + ", ".join(f"{table} {n:,} rows" for table, n in result.rows.items())
        + "."
    )


@interact_app.command("policy")
def interact_policy_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(help="Contact policy (YAML: rules, default_time_zone, consent_defaults)."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Set the contact policy from a YAML file, or print the one in force (as JSON)."""
    from patron.interact import contact_policy, read_contact_policy, set_contact_policy

    with _open_store(store) as handle:
        if file is not None:
            set_contact_policy(handle, read_contact_policy(file))
            out.print(f"Contact policy from {file} is in force.")
            return
        _emit_json(json.loads(contact_policy(handle).to_json()))
