"""The demo: the whole IDIC loop on a simulated shop whose truth is known."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patron.cli._common import app, err, out
from patron.cli.data import _print_load, _print_status
from patron.cli.differentiate import _print_segments, _print_tiers
from patron.cli.experiment import _print_analysis, _print_assignment
from patron.cli.identify import _print_run
from patron.cli.interact import _print_screen, publish_people
from patron.cli.value import _print_fit, _print_score

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from patron.data.warehouse import Warehouse


@app.command("demo")
def demo_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the demo's files.")] = Path(
        "patron-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", "-n")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="End by serving the console on the demo's store (Ctrl+C stops it)."
        ),
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8000,
) -> None:
    """The whole loop on a simulated shop: identify, value, needs, interact, measure."""
    from patron.data.loader import load
    from patron.data.simulate import simulate_shop
    from patron.data.status import warehouse_status
    from patron.data.warehouse import connect
    from patron.identity import resolve_identities
    from patron.needs import segment_customers
    from patron.report import write_report
    from patron.value.clv import ValueSettings
    from patron.value.history import apply_tiers, score_into_warehouse
    from patron.value.summary import SummarySpec
    from patron.value.validation import HOLDOUT_WEEKS, fit_and_check
    from patron.value.workflow import summary_from_warehouse

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
            summary_from_warehouse(wh, SummarySpec("week"), check_weeks=HOLDOUT_WEEKS) as source,
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
        out.rule("10. Customize")
        out.print(
            "Next best offers per customer (offers, recommendations, one price per customer) "
            "are not built yet: the screen above offers the tier's action."
        )
        out.rule("11. Measure: a campaign against a randomized holdout")
        _measure(wh, result.files["truth"], shop, seed)
    finally:
        wh.close()
    out.rule("Next")
    out.print(f"patron identify history CUSTOMER --warehouse {url}")
    out.print(f"patron value validate --model auto --calibration-end 2025-06-30 --warehouse {url}")
    out.print(f"patron tiers --mvc-share 0.6 --warehouse {url}")
    out.print(f"patron agent CUSTOMER_OR_EMAIL --store {store_url}")
    out.print(f"patron experiment analyze demo-campaign --metric revenue --warehouse {url}")
    out.print(f"patron load transactions YOUR_FILE.csv --warehouse {url}")
    if serve:
        _serve(store_url, port)


def _serve(store_url: str, port: int) -> None:
    """Serve the console and the API on the demo's store, with a fresh key per role."""
    import uvicorn

    from patron.api import ApiSettings, create_app
    from patron.store.keys import create_key

    settings = ApiSettings(store=store_url)
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
    from patron.data import people

    return people.resolve_ids(wh, wh.con.read_parquet(str(truth)))


def _interact(wh: Warehouse, store_url: str) -> None:
    """Publish, load the question bank, then one customer's screen before and after an answer."""
    from patron.interact import (
        agent_screen,
        example_question_bank,
        install_question_bank,
        load_question_bank,
        record_answer,
        set_consent,
    )
    from patron.store import open_store, upgrade_store
    from patron.value.tiers import TIER_ACTIONS

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


def _answer_from_purchases(wh: Warehouse, customer: str, choices: tuple[str, ...]) -> str:
    """The department a customer buys most in, as they would say it (else the first choice)."""
    import ibis

    from patron.data import people

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
    import ibis
    import pyarrow.parquet as pq

    from patron.data.loader import load
    from patron.data.simulate import ShopParams, simulate_campaign
    from patron.measure.experiments import Arm, create_experiment
    from patron.measure.outcomes import analyze_experiment

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
