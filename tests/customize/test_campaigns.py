"""A campaign on the simulated shop: holdout, export under consent, lift against the truth."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from patron.customize.campaigns import (
    OfferUplift,
    analyze_campaign,
    apply_uplift,
    create_campaign,
    export_campaign,
    get_campaign,
    measure_uplift,
    save_analysis,
)
from patron.customize.offers import catalogue, load_offers
from patron.data.loader import load
from patron.data.simulate import simulate_shop
from patron.data.simulate_offers import (
    SHOP_OFFERS,
    shop_offers_yaml,
    simulate_offer_responses,
    true_uplift,
)
from patron.data.warehouse import connect
from patron.errors import UsageError
from patron.store import Store, export_to_warehouse, publish_profiles
from patron.store.schema import consents, decisions, touchpoints

SEND = datetime(2025, 12, 29, 9, 0)  # the day after the simulated shop's window


def test_campaign_measures_the_true_lift(store: Store, tmp_path: Path) -> None:
    shop = simulate_shop(20_000, tmp_path / "shop", seed=7)
    wh = connect(f"duckdb://{tmp_path / 'wh.duckdb'}")
    try:
        load(wh, "customers", [str(shop.files["customers"])])
        load(wh, "transactions", [str(shop.files["transactions"])])
        truth = pq.read_table(shop.files["truth"]).to_pydict()
        ids, clv = truth["customer_id"], np.array(truth["clv_12m"])
        cut = np.quantile(clv, [0.5, 0.9])
        tier = np.where(clv >= cut[1], "MVC", np.where(clv >= cut[0], "MGC", "other"))
        wh.create_table(
            "customer_value",
            pa.table({"customer_id": ids, "clv": clv, "tier": tier.tolist(),
                      "segment": truth["segment"],
                      "p_alive": np.where(truth["alive_at_end"], 0.8, 0.2)}),
        )  # fmt: skip
        publish_profiles(wh, store, source="test")
        # offers with the uplift an earlier experiment measured per segment
        rows = yaml.safe_load(shop_offers_yaml())
        for r in rows:
            segs = sorted(set(truth["segment"]))
            r["uplift_by_segment"] = {s: round(true_uplift(s, r["id"]), 4) for s in segs}
        (tmp_path / "offers.yaml").write_text(yaml.safe_dump(rows), encoding="utf-8")
        load_offers(store, tmp_path / "offers.yaml")
        # 85% agreed to e-mail marketing, 5% refused, the rest said nothing (opt-in: no)
        rng = np.random.default_rng(1)
        u = rng.random(len(ids))
        with store.write() as conn:
            conn.execute(
                sa.insert(consents),
                [{"customer_id": c, "channel": "email", "purpose": "marketing",
                  "state": "granted" if x < 0.85 else "denied", "recorded_at": datetime(2025, 6, 1),
                  "source": "web form"} for c, x in zip(ids, u, strict=True) if x < 0.90],
            )  # fmt: skip
        no_consent = {c for c, x in zip(ids, u, strict=True) if x >= 0.85}
        export_to_warehouse(store, wh)

        camp = create_campaign(
            store, wh, "winter", channel="email", holdout=0.2, start=SEND.date(), weeks=4, at=SEND
        )
        assert camp.counts["treated"] > 3 * camp.counts["holdout"] > 0
        with pytest.raises(UsageError, match="exists already"):
            create_campaign(store, wh, "winter", at=SEND)
        out = tmp_path / "contacts.csv"
        result = export_campaign(store, wh, "winter", out, at=SEND)
        with out.open(encoding="utf-8") as fh:
            contacts = list(csv.DictReader(fh))
        assert len(contacts) == result.contacts > 1000
        assert not {r["customer_id"] for r in contacts} & no_consent
        assert all(r["price"] for r in contacts)
        with store.read() as conn:
            logged = conn.execute(
                sa.select(sa.func.count()).where(
                    touchpoints.c.campaign == "winter", touchpoints.c.direction == "outbound"
                )
            ).scalar_one()
        assert logged == result.contacts  # every contact is a touch point
        with pytest.raises(UsageError, match="was exported"):
            export_campaign(store, wh, "winter", out, at=SEND)

        # the weeks after the send: responses with a known effect
        sends = {r["customer_id"]: r["offer_id"] for r in contacts}
        assert set(sends.values()) <= {o.id for o in SHOP_OFFERS}
        responses = simulate_offer_responses(shop.files["truth"], sends, weeks=4, seed=3)
        path = tmp_path / "after.parquet"
        pq.write_table(responses.transactions, path)
        load(wh, "transactions", [str(path)])
        analysis = analyze_campaign(wh, "winter")
        assert not analysis.overall.srm["alarm"]
        exp_treated = analysis.overall.results[0]["n_arm"]  # every treated customer counts
        assert exp_treated == camp.counts["treated"] > camp.actions["treated"]
        true = {
            "margin": responses.true_margin_lift * len(sends) / exp_treated,
            "revenue": responses.true_revenue_lift * len(sends) / exp_treated,
        }
        for r in analysis.overall.results:
            if r["metric"] in true:
                assert r["ci_low"] <= true[r["metric"]] <= r["ci_high"], (r, true)
        assert analysis.by_offer  # per offer too
        # kept with the campaign for the console and the service (no warehouse on their path)
        save_analysis(store, analysis)
        kept = get_campaign(store, "winter").lift
        assert kept is not None
        assert [r["metric"] for r in kept["results"]] == [
            r["metric"] for r in analysis.overall.results
        ]
        assert all(r["summary"] for r in kept["results"])
        assert set(kept["by_offer"]) == set(analysis.by_offer)

        # each offer's uplift on a contacted customer, per needs segment, against the truth
        measured = measure_uplift(wh, store, "winter")
        assert {m.offer_id for m in measured} == set(analysis.by_offer)
        segment = dict(zip(ids, truth["segment"], strict=True))
        alive = dict(zip(ids, truth["alive_at_end"], strict=True))
        covered = cells = 0
        for m in measured:
            offer = next(o for o in SHOP_OFFERS if o.id == m.offer_id)
            assert m.response == f"bought in {offer.category}"
            for seg, est in m.by_segment.items():
                if min(est.treated, est.holdout) < 30:
                    continue
                reached = [c for c, o in sends.items() if o == m.offer_id and segment[c] == seg]
                # a contacted customer responds if alive, with the segment's true uplift; the
                # response shows only for those who would not have bought the category anyway
                share_alive = float(np.mean([alive[c] for c in reached]))
                expected = true_uplift(seg, m.offer_id) * share_alive * (1 - est.holdout_rate)
                # the batch NBA chose actions under consent: every treated one was contacted
                assert est.contacted_share == 1.0
                assert est.ci_low <= est.uplift <= est.ci_high
                cells += 1
                covered += est.ci_low <= expected <= est.ci_high
        assert cells >= len(measured) >= 4  # each segment gets the offer of its category
        assert covered >= 0.75 * cells, (covered, cells)

        # written back into the offers, the next best action uses them
        written = apply_uplift(store, measured, min_per_arm=100)
        assert any(w["written"] for w in written.values())
        with store.read() as conn:
            after = {o.id: o for o in catalogue(conn)}
        for offer_id, w in written.items():
            if w["written"]:
                assert after[offer_id].uplift == w["uplift"]
                assert dict(after[offer_id].uplift_by_segment) == w["uplift_by_segment"]
        with pytest.raises(UsageError, match="min_per_arm"):
            apply_uplift(store, measured, min_per_arm=0)
        # had the export reached half of an offer's customers, the same difference between
        # the arms would mean twice the effect on a contacted customer
        first = measured[0]
        with store.write() as conn:
            sent = (
                conn.execute(
                    sa.select(decisions.c.id)
                    .where(decisions.c.campaign == "winter", decisions.c.offer_id == first.offer_id)
                    .order_by(decisions.c.id)
                )
                .scalars()
                .all()
            )
            conn.execute(sa.delete(decisions).where(decisions.c.id.in_(sent[::2])))
        again = next(m for m in measure_uplift(wh, store, "winter") if m.offer_id == first.offer_id)
        assert again.overall.itt == pytest.approx(first.overall.itt)
        half = again.overall.contacted_share
        assert half == pytest.approx(0.5, abs=0.01)
        assert again.overall.uplift == pytest.approx(first.overall.itt / half)
        assert again.overall.contacted == pytest.approx(first.overall.contacted / 2, abs=1)
        # never written: an estimate that left the range of a rate, or too few contacted
        for bad, why in (
            (replace(first.overall, clipped=True), "too few contacted to tell"),
            (replace(first.overall, contacted=99), "fewer than 100 customers contacted"),
            (replace(first.overall, holdout=99), "fewer than 100 customers in an arm"),
        ):
            res = apply_uplift(store, [OfferUplift(first.offer_id, "x", bad, {})])
            assert res[first.offer_id]["written"] is False
            assert res[first.offer_id]["why"].startswith(why)
    finally:
        wh.close()


def test_uplift_needs_a_campaign_that_contacted_someone(store: Store, tmp_path: Path) -> None:
    shop = simulate_shop(2_000, tmp_path / "shop", seed=5)
    wh = connect(f"duckdb://{tmp_path / 'wh.duckdb'}")
    try:
        load(wh, "customers", [str(shop.files["customers"])])
        load(wh, "transactions", [str(shop.files["transactions"])])
        truth = pq.read_table(shop.files["truth"]).to_pydict()
        wh.create_table(
            "customer_value",
            pa.table({"customer_id": truth["customer_id"], "clv": truth["clv_12m"],
                      "tier": ["other"] * len(truth["customer_id"])}),
        )  # fmt: skip
        publish_profiles(wh, store, source="test")
        (tmp_path / "offers.yaml").write_text(shop_offers_yaml(), encoding="utf-8")
        load_offers(store, tmp_path / "offers.yaml")
        start = datetime(2025, 12, 1)  # inside the shop's window: transactions exist after it
        create_campaign(store, wh, "quiet", channel="email", holdout=0.2, start=start.date(),
                        weeks=2, at=start)  # fmt: skip
        with pytest.raises(UsageError, match="contacted nobody"):
            measure_uplift(wh, store, "quiet")
    finally:
        wh.close()
