"""Customize: patron recommend fit|evaluate (recommendations).

Domain modules are imported inside the commands: ``patron --help`` should not load implicit,
SciPy or SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from patron.cli._common import (
    JsonOpt,
    WarehouseOpt,
    _emit_json,
    _open,
    _parse_date,
    _split,
    app,
    err,
    out,
)
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.customize.recommend import Rules

recommend_app = typer.Typer(
    help="Customize: product recommendations per customer (fit, evaluate).",
    no_args_is_help=True,
)
app.add_typer(recommend_app, name="recommend")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        help="Operational store URL for --publish (default: $PATRON_STORE or "
        "sqlite:///patron.store.sqlite).",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="popularity, cooccurrence, item_knn, bm25, als, hybrid, ease or rp3beta "
        "(default: hybrid, the shipped one).",
        show_default=False,
    ),
]
ReplenishOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replenishable",
        help="Categories bought again and again (repeat or comma-separate): their products "
        "stay recommendable after a purchase.",
    ),
]
ActiveOpt = Annotated[
    int,
    typer.Option(
        "--active-days",
        help="Recommend only products someone bought in this many days before the end of "
        "the data (the cutoff for evaluate).",
    ),
]
AllProductsOpt = Annotated[
    bool, typer.Option("--all-products", help="Treat every product as active (no --active-days).")
]


def _rules(replenishable: list[str] | None, active_days: int, all_products: bool) -> Rules:
    from patron.customize.recommend import Rules

    if active_days < 0:
        raise UsageError(f"--active-days {active_days}: use 0 or more days.")
    return Rules(
        replenishable=frozenset(_split(replenishable)),
        active_days=None if all_products else active_days,
    )


def _check_model(model: str | None) -> str:
    from patron.customize.recommend import DEFAULT_MODEL, MODELS

    name = model or DEFAULT_MODEL
    if name not in MODELS:
        raise UsageError(f"--model {name!r} is not a model; choose one of: {', '.join(MODELS)}.")
    return name


@recommend_app.command("fit")
def recommend_fit_cmd(
    model: ModelOpt = None,
    top: Annotated[int, typer.Option("--top", help="Products per customer.")] = 10,
    similar: Annotated[
        int, typer.Option("--similar", help="Similar products per product (0: none).")
    ] = 10,
    replenishable: ReplenishOpt = None,
    active_days: ActiveOpt = 90,
    all_products: AllProductsOpt = False,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish", help="Also publish them into the operational store (atomically)."
        ),
    ] = False,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit a model on every purchase and write the top N products per customer.

    Writes the warehouse tables `recommendations` (customer_id, rank, product_id, score,
    model) and `similar_items`; with --publish also the store's, for real-time readers.
    """
    from patron.customize.recommend_batch import fit_recommendations

    name = _check_model(model)
    rules = _rules(replenishable, active_days, all_products)
    if top < 1:
        raise UsageError(f"--top {top}: ask for at least 1 product per customer.")
    published = None
    handle = None
    if publish:  # a store that is missing or behind fails before any work
        from patron.settings import Settings
        from patron.store import open_store

        handle = open_store(store or Settings.load().store)
    wh = _open(warehouse)
    try:
        with err.status("Fitting recommendations ...") as status:
            result = fit_recommendations(
                wh,
                model=name,
                n=top,
                similar=similar,
                rules=rules,
                progress=lambda step: status.update(f"{step} ..."),
            )
            if handle is not None:
                from patron.cli.interact import redact_url
                from patron.store.recommendations import publish_recommendations

                status.update("Publishing into the store ...")
                published = publish_recommendations(wh, handle, source=redact_url(wh))
    finally:
        wh.close()
        if handle is not None:
            handle.close()
    if json_out:
        payload = result.to_dict()
        payload["published"] = published.to_dict() if published is not None else None
        _emit_json(payload)
        return
    out.print(
        f"{result.model}: top {top} for {result.customers - result.customers_without:,} of "
        f"{result.customers:,} customers ({result.rows:,} rows) from {result.active_products:,} "
        f"active of {result.products:,} products (as of {result.as_of}), in "
        f"{result.seconds:.1f} s; written to the warehouse table recommendations"
        + (f" and {result.similar_rows:,} similar_items rows." if result.similar_rows else ".")
    )
    if result.customers_without:
        out.print(
            f"{result.customers_without:,} customers got no recommendation: every active "
            "product is one they bought or returned."
        )
    if published is not None:
        previous = f" (replacing {published.previous})" if published.previous else ""
        out.print(
            f"Recommendations publication {published.publication} is live in the store"
            f"{previous}: {published.customers:,} customers, {published.rows:,} rows."
        )


@recommend_app.command("evaluate")
def recommend_evaluate_cmd(
    cutoff: Annotated[
        str,
        typer.Option(
            "--cutoff",
            help="Train before this date (YYYY-MM-DD); test on first purchases from it on.",
        ),
    ] = "2011-09-01",
    end: Annotated[
        str | None,
        typer.Option("--end", help="End of the test window (exclusive; default: end of data)."),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", help="Models to evaluate (repeat or comma-separate; default all)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Recommendations per customer (the N).")] = 10,
    replenishable: ReplenishOpt = None,
    active_days: ActiveOpt = 90,
    all_products: AllProductsOpt = False,
    warehouse: WarehouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluate every model on a time split: precision, recall, hit rate at N and coverage.

    Customers with a purchase before --cutoff and a product bought after it that they never
    bought before; those products are the ones to find. The default cutoff is the Online
    Retail protocol's.
    """
    from patron.customize.evaluate import evaluate
    from patron.customize.recommend import MODELS

    cut = _parse_date(cutoff, "--cutoff")
    stop = _parse_date(end, "--end")
    names = [_check_model(m) for m in _split(models)] or list(MODELS)
    rules = _rules(replenishable, active_days, all_products)
    if top < 1:
        raise UsageError(f"--top {top}: evaluate at least 1 recommendation per customer.")
    if cut is None:  # pragma: no cover - the option has a default
        raise UsageError("--cutoff is required (YYYY-MM-DD).")
    wh = _open(warehouse)
    try:
        with err.status("Evaluating ...") as status:
            result = evaluate(
                wh,
                cut,
                end=stop,
                models=names,
                n=top,
                rules=rules,
                progress=lambda name: status.update(f"Evaluating {name} ..."),
            )
    finally:
        wh.close()
    if json_out:
        _emit_json(result.to_dict())
        return
    n = result.n
    table = Table(
        title=(
            f"Trained before {result.cutoff}; {result.customers:,} customers with "
            f"{result.test_items:,} products bought for the first time "
            f"{'to ' + result.end if result.end else 'after'}; {result.catalogue:,} products"
        ),
        title_justify="left",
    )
    for col in ("model", f"precision@{n}", f"recall@{n}", f"hit@{n}", "coverage", "seconds"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for s in result.scores:
        table.add_row(
            s.model,
            f"{s.precision:.3f}",
            f"{s.recall:.3f}",
            f"{s.hit_rate:.3f}",
            f"{s.coverage:.1%}",
            f"{s.seconds:.1f}",
        )
    out.print(table)
    out.print(
        f"precision@{n}: share of the {n} recommendations the customer then bought; "
        f"hit@{n}: customers with at least one; coverage: share of the catalogue recommended "
        "to anyone."
    )
