"""The demo's steps (imported only when `patron demo` runs: the engines load here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow.parquet as pq
import sqlalchemy as sa

from patron.cli._common import err, out
from patron.cli.data import _print_load, _print_status
from patron.cli.differentiate import _print_segments, _print_tiers
from patron.cli.experiment import _print_analysis, _print_assignment
from patron.cli.identify import _print_run
from patron.cli.interact import _print_screen, publish_people
from patron.cli.nba import _print_decision
from patron.cli.value import _print_fit, _print_score
from patron.customize import load_offers, next_best_action
from patron.customize.campaigns import (
    analyze_campaign,
    apply_uplift,
    create_campaign,
    export_campaign,
    get_campaign,
    measure_uplift,
    save_analysis,
)
from patron.data import people
from patron.data.loader import load
from patron.data.simulate import ShopParams, simulate_campaign, simulate_shop
from patron.data.simulate_offers import shop_offers_yaml, simulate_offer_responses
from patron.data.status import warehouse_status
from patron.data.warehouse import Warehouse, connect
from patron.errors import NotFoundError
from patron.identity import resolve_identities
from patron.interact import (
    agent_screen,
    example_question_bank,
    install_question_bank,
    load_question_bank,
    record_answer,
    set_consent,
)
from patron.measure.experiments import Arm, create_experiment
from patron.measure.outcomes import analyze_experiment
from patron.needs import segment_customers
from patron.report import write_report
from patron.store import open_store, upgrade_store
from patron.store.publish import live_publication
from patron.store.schema import profiles
from patron.value.clv import ValueSettings
from patron.value.history import apply_tiers, score_into_warehouse
from patron.value.summary import SummarySpec
from patron.value.tiers import TIER_ACTIONS
from patron.value.validation import fit_and_check
from patron.value.workflow import summary_from_warehouse


def run_demo(directory: Path, customers: int, seed: int) -> str:
    """Run every step; the store's URL (for ``--serve``)."""
    shop = directory / "shop"
    url = f"duckdb://{directory / 'patron.duckdb'}"
    store_url = f"sqlite:///{directory / 'patron.store.sqlite'}"
    directory.mkdir(parents=True, exist_ok=True)
    out.rule("1. Simulate a shop")
    with err.status(f"Simulating {customers:,} customers ..."):
        result = simulate_shop(customers, shop, seed=seed, identities=True, split_orders=True)
    out.print(
        f"{result.customers:,} people, {result.transactions:,} transactions -> {shop}/. "
        "They bought in the store with a loyalty card, on the web under an account and by "
        "phone: a person with several records has orders under each record's id."
    )
    out.rule("2. Load it into the warehouse")
    wh = connect(url)
    try:
        for table in ("products", "customers", "transactions", "identities"):
            with err.status(f"Loading {table} ..."):
                report = load(wh, table, [str(result.files[table])])
            _print_load(report)
        out.rule("3. Identify: one customer per person")
        with err.status("Linking identity records (identifiers, then Splink) ..."):
            run = resolve_identities(wh)
        _print_run(run)
        out.print(_identity_against_truth(wh, result.files["identity_truth"]))
        out.rule("4. What is in the warehouse")
        _print_status(warehouse_status(wh))
        out.rule("5. Differentiate by value")
        with (
            err.status("Fitting the purchase and spend models, scoring customers ..."),
            summary_from_warehouse(wh, SummarySpec("week")) as source,
        ):
            fit, checked = fit_and_check(source, "auto")
            stored = checked.to_dict() if checked is not None else None
            valued, _ = score_into_warehouse(source, fit, ValueSettings(12, 0.1), check=stored)
        _print_fit(fit, notes=False)
        _print_score(valued, None)
        out.rule("6. Differentiate by needs")
        with err.status("Segmenting customers by what and how they buy ..."):
            segments = segment_customers(wh, seed=seed)
            tiers = apply_tiers(wh)
        _print_segments(segments)
        out.rule("7. Value tiers")
        _print_tiers(tiers, notes=False)
        truth = _truth_per_customer(wh, result.files["truth"])
        out.print(_bz_against_truth(wh, truth))
        out.rule("8. The customer-value report")
        with err.status("Writing the report ..."):
            page = write_report(wh, directory / "customer-value-report.html")
        out.print(f"Report written to {page.resolve()} (open it in a browser; works offline)")
        out.rule("9. Interact: the operational store and the agent's screen")
        _interact(wh, store_url)
        out.rule("10. Customize: offers and the next best action")
        customer = _customize(store_url, directory)
        out.rule("11. Measure: a campaign against a randomized holdout")
        _measure(wh, result.files["truth"], shop, seed)
        out.rule("12. Customize: a campaign of next best actions, against its holdout")
        _campaign(wh, store_url, result.files["truth"], shop, seed)
    finally:
        wh.close()
    out.rule("Next")
    out.print(f"patron identify history CUSTOMER --warehouse {url}")
    out.print(f"patron value validate --model auto --calibration-end 2025-06-30 --warehouse {url}")
    out.print(f"patron tiers --mvc-share 0.6 --warehouse {url}")
    out.print(f"patron agent CUSTOMER_OR_EMAIL --store {store_url}")
    if customer:
        out.print(f"patron nba {customer} --channel app --store {store_url}")
    out.print(f"patron campaign analyze demo-offers --warehouse {url}")
    out.print(f"patron experiment analyze demo-campaign --metric revenue --warehouse {url}")
    out.print(f"patron load transactions YOUR_FILE.csv --warehouse {url}")
    return store_url


def serve_demo(store_url: str, port: int) -> None:
    """Serve the console and the API on the demo's store, with a fresh key per role."""
    import uvicorn

    from patron.api import ApiSettings, create_app
    from patron.store.keys import create_key

    settings = ApiSettings.load(store=store_url)
    app = create_app(settings)
    secret = app.state.secret
    keys = {
        role: create_key(app.state.store, secret, name=f"demo {role}", role=role).key
        for role in ("manager", "agent")
    }
    out.rule("The console")
    out.print(f"Open http://127.0.0.1:{port}/console/ and sign in with a key:", markup=False)
    for role, key in keys.items():
        out.print(f"  {role:<8} {key}", markup=False)
    out.print(f"The API's documentation: http://127.0.0.1:{port}/docs. Ctrl+C stops.")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)


def _identity_against_truth(wh: Warehouse, truth: Path) -> str:
    """Pairwise precision and recall of the identity map against the simulated persons."""
    t = wh.con.read_parquet(str(truth))
    m = wh.table("identity_map")
    j = m.inner_join(t, [m.source == t.source, m.record_id == t.record_id])
    j = j.select(person=j.person, customer=j.customer_id)

    def pairs(table: ir.Table, *keys: str) -> int:
        counts = table.group_by(list(keys)).aggregate(n=table.count())
        return int((counts.n * (counts.n - 1) / 2).sum().to_pyarrow().as_py() or 0)

    found, true, both = pairs(j, "customer"), pairs(j, "person"), pairs(j, "customer", "person")
    precision = both / found if found else 1.0
    recall = both / true if true else 1.0
    return (
        f"Against the simulated truth: of the {found:,} pairs of records Patron put together, "
        f"{precision:.2%} belong to the same person (precision), and it found {recall:.2%} of "
        f"the {true:,} pairs that do (recall)."
    )


def _truth_per_customer(wh: Warehouse, truth: Path) -> ir.Table:
    """The simulator's truth per person, keyed by the resolved customer id."""
    return people.resolve_ids(wh, wh.con.read_parquet(str(truth)))


def _interact(wh: Warehouse, store_url: str) -> None:
    """Publish, load the question bank, then one customer's screen before and after an answer."""
    upgrade_store(store_url)
    with open_store(store_url) as store:
        with err.status("Publishing every customer's profile into the store ..."):
            published = publish_people(wh, store, source="demo")
        out.print(
            f"Publication {published.publication} is live: {published.customers:,} customer "
            f"profiles, {published.identifiers:,} identifiers to find them by."
        )
        bank = load_question_bank(example_question_bank())
        install_question_bank(store, bank, source="example")
        out.print(f"{len(bank.questions)} questions in the bank (drip irrigation).")
        cv = wh.table("customer_value")
        pick = (
            cv.filter(cv.tier == "MGC")
            .order_by([cv.growth_potential.desc(), cv.customer_id])
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        if not pick:
            out.print("No most-growable customer to show.")
            return
        customer = str(pick[0]["customer_id"])
        set_consent(
            store, customer, "phone", "profiling", "granted", source="demo",
            evidence="agreed on the phone to tell us about their interests",
        )  # fmt: skip
        screen = agent_screen(store, customer, "phone", offers=TIER_ACTIONS)
        _print_screen(screen)
        question = screen.next_question
        if question is None:
            return
        answer = _answer_from_purchases(wh, customer, question.question.answers)
        record_answer(store, customer, question.question.id, answer, channel="phone")
        out.print(f"The customer answers {answer!r} (from what they buy most). The next call:")
        _print_screen(agent_screen(store, customer, "phone", offers=TIER_ACTIONS))


def _customize(store_url: str, directory: Path) -> str | None:
    """Load the shop's offers; one customer's next best action with its reasons."""
    offers_file = directory / "offers.yaml"
    offers_file.write_text(shop_offers_yaml(), encoding="utf-8")
    with open_store(store_url) as store:
        loaded = load_offers(store, offers_file)
        out.print(
            f"{len(loaded)} offers loaded into the store from {offers_file} (one per department; "
            "a prior response rate of 3% each, no measured uplift yet)."
        )
        with store.read() as conn:
            pub = live_publication(conn)
            row = conn.execute(
                sa.select(profiles.c.customer_id)
                .where(profiles.c.publication_id == pub, profiles.c.tier == "MGC")
                .order_by(profiles.c.clv.desc(), profiles.c.customer_id)
                .limit(1)
            ).first()
        if row is None:
            return None
        decision = next_best_action(store, str(row.customer_id), "app")
    _print_decision(decision)
    return str(row.customer_id)


def _campaign(wh: Warehouse, store_url: str, truth: Path, shop: Path, seed: int) -> None:
    """A campaign in the app after step 11's window: NBA for the treated, 20% held out."""
    name = "demo-offers"
    prm = ShopParams()
    day = (prm.start + timedelta(weeks=prm.observation_weeks + 8)).date()
    send = datetime(day.year, day.month, day.day, 10)
    weeks = 4
    contacts = shop / "demo-offers-contacts.csv"
    with open_store(store_url) as store:
        try:
            get_campaign(store, name)
            exists = contacts.exists()
        except NotFoundError:
            exists = False
        if exists:
            out.print(f"Campaign {name} exists (skipped creating and exporting it again).")
        else:
            camp = create_campaign(
                store, wh, name, channel="app", holdout=0.2, audience="p_alive > 0.2",
                start=day, weeks=weeks, at=send, salt=f"demo-offers-{seed}",
            )  # fmt: skip
            treated, held = camp.counts.get("treated", 0), camp.counts.get("holdout", 0)
            out.print(
                f"Campaign {name}: {treated:,} customers likely still buying get their next "
                f"best action in the app on {day}, {held:,} are held out (stratified by tier)."
            )
            exported = export_campaign(store, wh, name, contacts, at=send)
            left = ", ".join(f"{n:,} {why}" for why, n in exported.left_out.items()) or "nobody"
            out.print(
                f"{exported.contacts:,} contacts written to {contacts} (offer and quoted price "
                f"each) and logged as touch points; left out by consent and contact policy: "
                f"{left}."
            )
    actions = wh.con.read_csv(str(contacts)).select("customer_id", "offer_id")
    cmap = wh.table("identity_customer_map")
    persons = actions.inner_join(cmap, actions.customer_id == cmap.resolved_id)
    pairs = persons.select(person=cmap.customer_id, offer=actions.offer_id).to_pyarrow()
    sends = dict(
        zip(pairs.column("person").to_pylist(), pairs.column("offer").to_pylist(), strict=True)
    )
    responses = simulate_offer_responses(truth, sends, weeks=weeks, seed=seed, start=send)
    path = shop / "demo-offers-responses.parquet"
    pq.write_table(responses.transactions, path)
    load(wh, "transactions", [str(path)])
    analysis = analyze_campaign(wh, name, metrics=("revenue", "margin"))
    with open_store(store_url) as store:
        save_analysis(store, analysis)  # for the console's campaigns page
    _print_analysis(analysis.overall, f"campaign {name}")
    n_treated = next(r["n_arm"] for r in analysis.overall.results)
    share = responses.customers_sent / n_treated if n_treated else 0.0
    true_rev, true_margin = responses.true_revenue_lift * share, responses.true_margin_lift * share
    for r in analysis.overall.results:
        truth_value = true_rev if r["metric"] == "revenue" else true_margin
        covered = r["ci_low"] <= truth_value <= r["ci_high"]
        out.print(
            f"Measured {r['metric']} lift per treated customer {r['lift']:+,.2f} (95% CI "
            f"{r['ci_low']:+,.2f} to {r['ci_high']:+,.2f}); the true lift is {truth_value:+,.2f}"
            f" ({'inside' if covered else 'outside'} the interval)."
        )
    with open_store(store_url) as store:
        measured = measure_uplift(wh, store, name)
        written = apply_uplift(store, measured)
    for m in measured:
        o = m.overall
        done = "written to the offer" if written[m.offer_id]["written"] else "too few to write"
        out.print(
            f"Offer {m.offer_id}: of the contacted customers, {100 * o.uplift:+.1f} percentage "
            f"points more {m.response} than without the offer (95% CI {100 * o.ci_low:+.1f} to "
            f"{100 * o.ci_high:+.1f}; {len(m.by_segment)} needs segments measured): {done}."
        )
    out.print(
        "The next best action now uses these measured uplifts instead of the offers' prior "
        "response rates."
    )


def _answer_from_purchases(wh: Warehouse, customer: str, choices: tuple[str, ...]) -> str:
    """The department a customer buys most in, as they would say it (else the first choice)."""
    tx = people.transactions(wh)
    mine = tx.filter((tx.customer_id == customer) & tx.category.notnull())
    top = (
        mine.group_by("category")
        .aggregate(n=mine.count())
        .order_by([ibis.desc("n"), "category"])
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    if top and top[0]["category"] in choices:
        return str(top[0]["category"])
    return "yes" if "yes" in choices else choices[0]


def _measure(wh: Warehouse, truth: Path, shop: Path, seed: int) -> None:
    """A campaign to the living customers, 20% held out, its simulated outcome, the lift."""
    name = "demo-campaign"
    shop_params = ShopParams()  # the campaign starts where the simulated window ends
    start = (shop_params.start + timedelta(weeks=shop_params.observation_weeks)).date()
    weeks = 8
    if not wh.has_table("experiments") or not (
        wh.table("experiments").filter(ibis._.name == name).count().to_pyarrow().as_py()
    ):
        created = create_experiment(
            wh, name, [Arm("offer", 0.8), Arm("control", 0.2)], audience="p_alive > 0.5",
            stratify=["tier"], start=start, end=start + timedelta(weeks=weeks) - timedelta(1),
            salt=f"demo-{seed}",
        )  # fmt: skip
        _print_assignment(created)
    a = wh.table("experiment_assignments")
    a = a.filter((a.experiment == name) & (a.arm == "offer"))
    cmap = wh.table("identity_customer_map")
    persons = a.inner_join(cmap, a.customer_id == cmap.resolved_id)
    treated = persons.select(person=cmap.customer_id).to_pyarrow().column("person").to_pylist()
    campaign = simulate_campaign(truth, treated, weeks=weeks, seed=seed)
    path = shop / "campaign.parquet"
    pq.write_table(campaign.transactions, path)
    out.print(
        f"The treated customers got the tier's action over {weeks} weeks from {start}; the "
        f"shop's purchases in those weeks are simulated ({campaign.transactions.num_rows:,}), "
        "with a known effect: 12% of treated customers still alive buy once more."
    )
    load(wh, "transactions", [str(path)])
    analysis, _, _ = analyze_experiment(wh, name, ["revenue", "conversion"], pre="period")
    _print_analysis(analysis, f"experiment {name}")
    out.print(
        f"The true effect per treated customer: revenue +{campaign.true_revenue_lift:,.2f}, "
        f"conversion +{campaign.true_conversion_lift:.4f} (+{campaign.true_conversion_lift:.2%} "
        "of customers buying; the simulator's own expectation)."
    )


def _bz_against_truth(wh: Warehouse, t: ir.Table) -> str:
    """Patron's BZ tier beside the simulator's truth (``clv_12m``), in one paragraph."""
    v = wh.table("customer_value")
    j = v.inner_join(t, v.customer_id == t.customer_id)
    bz, below = j.tier == "BZ", j.clv_12m < 0
    row = (
        j.aggregate(
            n=j.count(),
            bz=bz.sum(),
            below=below.sum(),
            gone=(~j.alive_at_end).sum(),
            bz_below=(bz & below).sum(),
            bz_gone=(bz & ~j.alive_at_end).sum(),
            equity=j.clv_12m.sum(),
            patron_equity=j.clv.sum(),
            low=j.cost_to_serve_yearly.min(),
            high=j.cost_to_serve_yearly.max(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    n, n_bz = int(row["n"]), int(row["bz"])
    share = f"{n_bz / n:.1%}" if n else "-"
    of_bz = (
        f"Of Patron's BZ, {int(row['bz_below']) / n_bz:.0%} are truly below zero and "
        f"{int(row['bz_gone']) / n_bz:.0%} have already left (they would cost nothing more). "
        if n_bz
        else ""
    )
    truth_share, patron_share = int(row["below"]) / n, n_bz / n
    gap = 100 * (patron_share - truth_share)
    closeness = (
        "close to the truth"
        if abs(gap) < 3
        else f"{abs(gap):.0f} points {'below' if gap < 0 else 'above'} the truth"
    )
    equity, patron_equity = float(row["equity"]), float(row["patron_equity"])
    off = f" ({patron_equity / equity - 1:+.0%})" if equity > 0 else ""
    return (
        f"BZ against the simulated truth: Patron puts {share} of customers in BZ; in truth "
        f"{truth_share:.1%} are still active but buy too rarely for their margin to "
        f"cover their yearly cost to serve ({float(row['low'] or 0):,.2f} to "
        f"{float(row['high'] or 0):,.2f} a year, by channel), and "
        f"{int(row['gone']) / n:.1%} have already left. {of_bz}In truth the below-zero share "
        "is large because purchase rates vary widely (most customers buy rarely) while every "
        f"customer costs something to serve. Patron's share is {closeness}; its 12-month "
        f"customer equity is {patron_equity:,.2f} against the true {equity:,.2f}{off}."
    )
