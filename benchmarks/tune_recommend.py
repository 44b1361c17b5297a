"""Choose the recommenders' hyperparameters on a validation split inside the training period.

Usage::

    .venv/bin/python benchmarks/tune_recommend.py
        [--data ../shared/data/online_retail/online_retail.csv]
        [--warehouse duckdb:///tmp/retail.duckdb] [--json tuned.json]

The issue's protocol trains before 2011-09-01 and tests on what customers bought first after
it. The hyperparameters must not see that test period, so this script applies the same
protocol *inside* the training period: train before 2011-06-01, validate on the products
customers bought first from 2011-06-01 to 2011-08-31. For each model it tries a grid without
the trend blend (stage 1), then the trend blend on that model's best setting (stage 2), and
prints validation precision@10 (recall@10, hit@10, coverage beside it); the best setting of
each model is what ``patron.customize.recommend.DEFAULT_PARAMS`` ships (popularity excepted:
the all-time count stays the reference baseline), and the best model is ``DEFAULT_MODEL``.
``--folds`` compares the shipped bm25 and als with the trend on and off over six monthly
folds inside the training period. ``--hybrid`` tunes the hybrid's blend weight
(``als_weight``) and its trend over the same six folds (the last of them is the validation
split), beside the shipped bm25 and als, and applies the rule that picks the hybrid's shipped
setting and whether it becomes the default model (see :func:`hybrid`). ``--new-models``
does the same for EASE and RP3beta (grids and rule in :func:`new_models`), and
``--hybrid-ease`` for the hybrid with EASE as a third component (:func:`hybrid_ease`).
Business rules: the defaults (``Rules()``: returned items excluded, products sold in the
last 90 days), also tried without the activity rule.

The test period is never read here (the warehouse holds the whole log, but the split's window
ends at 2011-09-01).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from patron.customize.evaluate import evaluate_split, score_top_n, split_at  # noqa: E402
from patron.customize.recommend import Rules, make_model, recommend  # noqa: E402
from patron.data.loader import load  # noqa: E402
from patron.data.warehouse import connect  # noqa: E402

VALIDATION_CUTOFF = date(2011, 6, 1)
VALIDATION_END = date(2011, 9, 1)

GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "cooccurrence": [{"K": k} for k in (5, 10, 20, 50, 100, 400)],
    "item_knn": [{"K": k} for k in (10, 20, 50, 100, 200, 400, 1000, 4000)],
    "bm25": [
        {"K": k, "K1": k1, "B": b}
        for k, k1, b in itertools.product(
            (5, 10, 20, 50, 100, 200, 400), (0.1, 0.3, 1.2, 3.0, 10.0, 100.0), (0.5, 0.75, 1.0)
        )
    ],
    "als": [
        {
            "factors": f,
            "regularization": r,
            "alpha": a,
            "weighting": w,
            "iterations": 15,
        }
        for f, r, a, w in itertools.product(
            (32, 64, 128, 256),
            (0.01, 1.0, 10.0, 30.0, 100.0),
            (0.3, 1.0, 5.0, 20.0),
            ("none", "log", "bm25"),
        )
    ],
}


NO_TREND = {"trend_weight": 0.0}

#: Stage 2: the trend, tried on each model's best setting of stage 1.
TREND_GRID: dict[str, list[dict[str, Any]]] = {
    name: [
        {"trend_weight": w, "trend_days": d}
        for w, d in itertools.product((0.1, 0.2, 0.3, 0.4, 0.5), (14, 21, 30, 45, 60))
    ]
    for name in ("cooccurrence", "item_knn", "bm25", "als")
}
TREND_GRID["popularity"] = [{"days": d} for d in (7, 14, 21, 30, 45, 60, 90)]


#: Six monthly folds inside the training period, three months of test each; the last one
#: (cutoff 2011-06-01) is the validation split.
FOLD_CUTOFFS = [(date(2011, m, 1), date(2011, m + 3, 1)) for m in range(1, 7)]

#: The hybrid's grid: the blend weight of ALS (0: bm25's ranking, 1: als's) and the trend.
HYBRID_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
HYBRID_TRENDS = (0.0, 0.1, 0.2, 0.3, 0.4)
HYBRID_TREND_DAYS = 21


def _fold_splits(wh: Any) -> list[Any]:
    splits = [split_at(wh, c, end=e) for c, e in FOLD_CUTOFFS]
    print(
        "folds (cutoff, customers):",
        [(str(c), len(s.rows)) for (c, _), s in zip(FOLD_CUTOFFS, splits, strict=True)],
    )
    return splits


def _fold_row(label: str, ps: list[float]) -> float:
    mean = sum(ps) / len(ps)
    print(f"| {label} | {' | '.join(f'{p:.4f}' for p in ps)} | {mean:.4f} |", flush=True)
    return mean


def _fold_header(first: str) -> None:
    months = " | ".join(str(c)[:7] for c, _ in FOLD_CUTOFFS)
    print(f"\n| {first} | {months} | mean |\n|---|{'---:|' * (len(FOLD_CUTOFFS) + 1)}")


def _shipped_on_folds(splits: list[Any]) -> dict[tuple[str, bool], list[float]]:
    """The shipped bm25 and als with their trend on and off, precision@10 per fold."""
    from patron.customize.recommend import DEFAULT_PARAMS

    out: dict[tuple[str, bool], list[float]] = {}
    _fold_header("model, trend")
    for name in ("bm25", "als"):
        for trend in (False, True):
            params = dict(DEFAULT_PARAMS[name])
            if not trend:
                params["trend_weight"] = 0.0
            ps = [evaluate_split(s, [name], params={name: params})[0].precision for s in splits]
            _fold_row(f"{name}, trend {'on' if trend else 'off'}", ps)
            out[(name, trend)] = ps
    return out


def folds(wh: Any) -> None:
    """The trend blend on and off over six monthly folds inside the training period."""
    _shipped_on_folds(_fold_splits(wh))


def hybrid(wh: Any, json_path: str | None) -> None:
    """The hybrid's blend weight and trend over the six folds, and the rule that picks them.

    Per fold the hybrid is fitted once (its components do not depend on the blend weight or
    the trend weight; the recent buyers are counted over ``HYBRID_TREND_DAYS``), then every
    (blend weight, trend weight) of the grid ranks with those fitted components: the same
    figures as a fit per setting, without refitting ALS 55 times.

    The rule (stated before the run): the shipped setting is the grid's highest mean
    precision@10 over the six folds (ties: the lower als_weight, then the lower trend
    weight). The hybrid becomes the default model only if that
    setting beats the shipped default (bm25 with its trend) both on that mean and on the
    validation split (the last fold); else the default stays and the hybrid ships as an option.
    """
    splits = _fold_splits(wh)
    shipped = _shipped_on_folds(splits)
    rules = Rules()
    grid = list(itertools.product(HYBRID_WEIGHTS, HYBRID_TRENDS))
    per_fold: dict[tuple[float, float], list[float]] = {g: [] for g in grid}
    for split in splits:
        fitted = make_model(
            "hybrid", trend_weight=HYBRID_TRENDS[-1], trend_days=HYBRID_TREND_DAYS
        ).fit(split.train, as_of=split.cutoff)
        for w, t in grid:
            model = copy.copy(fitted)
            model.als_weight = w  # type: ignore[attr-defined]
            model.trend_weight = t  # type: ignore[attr-defined]
            top = recommend(
                model, split.train, n=10, rules=rules, as_of=split.cutoff, rows=split.rows
            )
            score = score_top_n("hybrid", model.get_params(), top.items, split, 10)
            per_fold[(w, t)].append(score.precision)
    _fold_header("hybrid: als_weight, trend_weight")
    means = {g: _fold_row(f"{g[0]:.1f}, {g[1]:.1f}", per_fold[g]) for g in grid}
    best = max(grid, key=lambda g: means[g])  # ties: the first (lower weights)
    default = shipped[("bm25", True)]
    default_mean = sum(default) / len(default)
    wins = means[best] > default_mean and per_fold[best][-1] > default[-1]
    print(
        f"\nbest hybrid by the mean over the folds: als_weight {best[0]}, trend_weight "
        f"{best[1]} ({HYBRID_TREND_DAYS} days): mean {means[best]:.4f}, validation "
        f"{per_fold[best][-1]:.4f}; the shipped default (bm25 + trend): mean "
        f"{default_mean:.4f}, validation {default[-1]:.4f} -> "
        f"{'the hybrid becomes the default' if wins else 'the default stays bm25'}"
    )
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {
                    "folds": [str(c) for c, _ in FOLD_CUTOFFS],
                    "shipped": {
                        f"{n} trend {'on' if t else 'off'}": ps for (n, t), ps in shipped.items()
                    },
                    "hybrid": [
                        {"als_weight": w, "trend_weight": t, "precision": per_fold[(w, t)]}
                        for w, t in grid
                    ],
                    "best": {"als_weight": best[0], "trend_weight": best[1]},
                    "hybrid_is_default": wins,
                },
                indent=1,
            )
        )


#: EASE's grid (stated before the run): the L2 penalty and the input weighting.
EASE_GRID: list[dict[str, Any]] = [
    {"l2": l2, "weighting": w}
    for l2, w in itertools.product(
        (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0), ("binary", "log", "none")
    )
]
#: RP3beta's grid (stated before the run): transition exponent, popularity penalty, neighbours.
RP3BETA_GRID: list[dict[str, Any]] = [
    {"alpha": a, "beta": b, "K": k}
    for a, b, k in itertools.product((0.5, 0.75, 1.0), (0.0, 0.2, 0.4, 0.6), (100, 1000))
]
#: Both with the trend weights of the hybrid's grid over the same 21 days.
NEW_MODEL_GRIDS = {"ease": EASE_GRID, "rp3beta": RP3BETA_GRID}


def _setting(g: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in g.items())


def new_models(wh: Any, json_path: str | None) -> None:
    """EASE and RP3beta over the six folds, beside the shipped default, and the rule.

    Per fold and grid setting the model is fitted once with the largest trend weight (the
    recent buyers counted over ``HYBRID_TREND_DAYS``), then ranks at every trend weight of
    ``HYBRID_TRENDS`` (the trend does not change what is fitted): the same figures as a fit
    per setting.

    The rule (stated and committed before the run; the test period is not read):

    1. Each new model's shipped setting (``DEFAULT_PARAMS``) is its grid's highest mean
       precision@10 over the six folds (grid setting × trend weight; ties: the first in grid
       order, then the lower trend weight).
    2. A new model becomes ``DEFAULT_MODEL`` only if that setting beats the current default
       (the hybrid, ``als_weight`` 0.4, trend 0.2 over 21 days; expected mean 0.1337,
       validation 0.1389, recomputed here on the same folds) both on the mean over the six
       folds AND on the validation split (the last fold, cutoff 2011-06-01). If both new
       models qualify, the one with the higher mean. Otherwise the default stays the hybrid
       and the new models ship as options.
    3. Then, and only then, ``benchmarks/bench_recommend.py protocol`` is run once for the
       test-period figures; nothing is re-tuned after it.
    """
    from patron.customize.recommend import DEFAULT_MODEL

    splits = _fold_splits(wh)
    rules = Rules()
    default = [evaluate_split(s, [DEFAULT_MODEL], rules=rules)[0].precision for s in splits]
    _fold_header("model, setting, trend_weight")
    default_mean = _fold_row(f"{DEFAULT_MODEL} (the shipped default)", default)
    report: dict[str, Any] = {
        "folds": [str(c) for c, _ in FOLD_CUTOFFS],
        "default": {"model": DEFAULT_MODEL, "precision": default},
        "grids": {},
    }
    best_of: dict[str, tuple[dict[str, Any], float, list[float]]] = {}
    for name, grid in NEW_MODEL_GRIDS.items():
        per_fold: dict[tuple[int, float], list[float]] = {
            (i, t): [] for i in range(len(grid)) for t in HYBRID_TRENDS
        }
        for split in splits:
            for i, g in enumerate(grid):
                fitted = make_model(
                    name, **g, trend_weight=HYBRID_TRENDS[-1], trend_days=HYBRID_TREND_DAYS
                ).fit(split.train, as_of=split.cutoff)
                for t in HYBRID_TRENDS:
                    model = copy.copy(fitted)
                    model.trend_weight = t  # type: ignore[attr-defined]
                    top = recommend(
                        model, split.train, n=10, rules=rules, as_of=split.cutoff, rows=split.rows
                    )
                    score = score_top_n(name, model.get_params(), top.items, split, 10)
                    per_fold[(i, t)].append(score.precision)
            print(f"{name}: fold {split.cutoff.date()} done", flush=True)
        _fold_header(f"{name}: setting, trend_weight")
        means = {
            key: _fold_row(f"{_setting(grid[key[0]])}, trend {key[1]:.1f}", ps)
            for key, ps in per_fold.items()
        }
        best = max(means, key=lambda key: means[key])  # ties: the first (grid order)
        chosen = {**grid[best[0]], "trend_weight": best[1], "trend_days": HYBRID_TREND_DAYS}
        best_of[name] = (chosen, means[best], per_fold[best])
        print(
            f"\nbest {name} by the mean over the folds: {chosen}: mean {means[best]:.4f}, "
            f"validation {per_fold[best][-1]:.4f}",
            flush=True,
        )
        report["grids"][name] = [
            {**grid[i], "trend_weight": t, "precision": ps} for (i, t), ps in per_fold.items()
        ]
    qualified = {
        name: mean
        for name, (_, mean, ps) in best_of.items()
        if mean > default_mean and ps[-1] > default[-1]
    }
    winner = max(qualified, key=lambda n: qualified[n]) if qualified else DEFAULT_MODEL
    print(
        f"\nthe shipped default ({DEFAULT_MODEL}): mean {default_mean:.4f}, validation "
        f"{default[-1]:.4f}; qualified: {sorted(qualified) or 'none'} -> DEFAULT_MODEL = "
        f"{winner!r}"
    )
    report["best"] = {
        n: {"params": c, "mean": m, "precision": ps} for n, (c, m, ps) in best_of.items()
    }
    report["default_model"] = winner
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1))


#: The hybrid with EASE (stated before its run, after ``--new-models``): EASE as a third
#: component at its setting chosen by ``--new-models`` (l2 100, binary; its own trend off),
#: bm25 and als at their shipped settings; the grid is every (als_weight, ease_weight) on a
#: 0.1 step with a sum of at most 1 (bm25 gets the rest), times the trend weights.
HYBRID_EASE = {"l2": 100.0, "ease_weighting": "binary"}
HYBRID_EASE_PAIRS = [(a, e) for a in HYBRID_WEIGHTS for e in HYBRID_WEIGHTS if a + e <= 1.0 + 1e-9]


def hybrid_ease(wh: Any, json_path: str | None) -> None:
    """The hybrid with an EASE component over the six folds, and the rule that picks it.

    Per fold the hybrid with EASE is fitted once (its components do not depend on the blend
    or trend weights), then ranks at every grid point.

    The rule (stated and committed before the run; the test period is not read):

    1. The candidate is the grid's highest mean precision@10 over the six folds (ties: the
       first in grid order: als_weight, then ease_weight, then trend weight ascending).
    2. The shipped hybrid takes that setting only if its ``ease_weight`` is above 0 and it
       beats the current default (the hybrid without EASE, ``als_weight`` 0.4, trend 0.2;
       mean 0.1337, validation 0.1389, recomputed here) both on the mean over the six folds
       AND on the validation split (the last fold). Otherwise the hybrid stays as it is
       (EASE weight 0).
    3. Then ``benchmarks/bench_recommend.py protocol`` is run once; nothing is re-tuned
       after it.
    """
    from patron.customize.recommend import DEFAULT_MODEL

    splits = _fold_splits(wh)
    rules = Rules()
    default = [evaluate_split(s, [DEFAULT_MODEL], rules=rules)[0].precision for s in splits]
    _fold_header("model, setting")
    default_mean = _fold_row(f"{DEFAULT_MODEL} (the shipped default)", default)
    grid = [(a, e, t) for a, e in HYBRID_EASE_PAIRS for t in HYBRID_TRENDS]
    per_fold: dict[tuple[float, float, float], list[float]] = {g: [] for g in grid}
    for split in splits:
        fitted = make_model(
            "hybrid",
            ease_weight=0.1,
            **HYBRID_EASE,
            trend_weight=HYBRID_TRENDS[-1],
            trend_days=HYBRID_TREND_DAYS,
        ).fit(split.train, as_of=split.cutoff)
        for a, e, t in grid:
            model = copy.copy(fitted)
            model.als_weight = a  # type: ignore[attr-defined]
            model.ease_weight = e  # type: ignore[attr-defined]
            model.trend_weight = t  # type: ignore[attr-defined]
            top = recommend(
                model, split.train, n=10, rules=rules, as_of=split.cutoff, rows=split.rows
            )
            score = score_top_n("hybrid", model.get_params(), top.items, split, 10)
            per_fold[(a, e, t)].append(score.precision)
        print(f"hybrid with EASE: fold {split.cutoff.date()} done", flush=True)
    _fold_header("hybrid: als_weight, ease_weight, trend_weight")
    means = {g: _fold_row(f"{g[0]:.1f}, {g[1]:.1f}, {g[2]:.1f}", per_fold[g]) for g in grid}
    best = max(grid, key=lambda g: means[g])  # ties: the first
    wins = best[1] > 0 and means[best] > default_mean and per_fold[best][-1] > default[-1]
    print(
        f"\nbest hybrid with EASE by the mean over the folds: als_weight {best[0]}, "
        f"ease_weight {best[1]}, trend_weight {best[2]} ({HYBRID_TREND_DAYS} days): mean "
        f"{means[best]:.4f}, validation {per_fold[best][-1]:.4f}; the shipped default: mean "
        f"{default_mean:.4f}, validation {default[-1]:.4f} -> "
        f"{'the hybrid takes EASE' if wins else 'the hybrid stays without EASE'}"
    )
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {
                    "folds": [str(c) for c, _ in FOLD_CUTOFFS],
                    "default": default,
                    "ease": HYBRID_EASE,
                    "grid": [
                        {
                            "als_weight": a,
                            "ease_weight": e,
                            "trend_weight": t,
                            "precision": per_fold[(a, e, t)],
                        }
                        for a, e, t in grid
                    ],
                    "best": {"als_weight": best[0], "ease_weight": best[1], "trend": best[2]},
                    "hybrid_takes_ease": wins,
                },
                indent=1,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv"),
    )
    parser.add_argument("--warehouse", help="A warehouse that already holds the log.")
    parser.add_argument("--models", default=",".join(GRIDS))
    parser.add_argument("--json", help="Write every result to this file.")
    parser.add_argument(
        "--folds",
        action="store_true",
        help="Instead of the grids: the shipped bm25 and als with the trend on and off over "
        "six monthly folds (cutoffs 2011-01-01 .. 2011-06-01, three months each).",
    )
    parser.add_argument(
        "--hybrid",
        action="store_true",
        help="Instead of the grids: the hybrid's blend weight and trend over the six folds, "
        "beside the shipped bm25 and als (writes --json if given).",
    )
    parser.add_argument(
        "--new-models",
        action="store_true",
        help="Instead of the grids: EASE and RP3beta over the six folds, beside the shipped "
        "default, and the rule that picks their settings and the default (writes --json).",
    )
    parser.add_argument(
        "--hybrid-ease",
        action="store_true",
        help="Instead of the grids: the hybrid with an EASE component over the six folds, "
        "and the rule that picks its weights (writes --json).",
    )
    parser.add_argument(
        "--default-rules-only",
        action="store_true",
        help="Only the default rules (skip the run without the activity rule).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.warehouse or f"duckdb://{Path(tmp) / 'retail.duckdb'}"
        wh = connect(url)
        if not wh.has_table("transactions"):
            load(wh, "transactions", [args.data])
        if args.folds:
            folds(wh)
            wh.close()
            return
        if args.hybrid:
            hybrid(wh, args.json)
            wh.close()
            return
        if args.new_models:
            new_models(wh, args.json)
            wh.close()
            return
        if args.hybrid_ease:
            hybrid_ease(wh, args.json)
            wh.close()
            return
        split = split_at(wh, VALIDATION_CUTOFF, end=VALIDATION_END)
        print(
            f"validation: train before {VALIDATION_CUTOFF}, first purchases "
            f"{VALIDATION_CUTOFF} .. {VALIDATION_END} (exclusive): {len(split.rows)} customers, "
            f"{int(split.test_counts.sum())} test items, {split.train.shape[1]} products"
        )
        results: list[dict[str, Any]] = []
        rule_sets = [Rules()] if args.default_rules_only else [Rules(), Rules(active_days=None)]
        for rules in rule_sets:
            for name in args.models.split(","):
                best: dict[str, Any] | None = None
                for grid_params in GRIDS[name]:
                    # Stage 1 without the trend (the shipped defaults may have one).
                    params = {**grid_params, **({} if name == "popularity" else NO_TREND)}
                    (score,) = evaluate_split(split, [name], rules=rules, params={name: params})
                    row = {**score.to_dict(), "active_days": rules.active_days}
                    results.append(row)
                    if best is None or row["precision"] > best["precision"]:
                        best = row
                assert best is not None
                # Stage 2: the trend blend (recent buyers per product) on the best setting.
                base = {k: v for k, v in best["params"].items() if not k.startswith("trend")}
                for extra in TREND_GRID[name]:
                    params = {**base, **extra}
                    (score,) = evaluate_split(split, [name], rules=rules, params={name: params})
                    row = {**score.to_dict(), "active_days": rules.active_days}
                    results.append(row)
                    if row["precision"] > best["precision"]:
                        best = row
                print(
                    f"active_days={rules.active_days}: best {name:12s} "
                    f"p@10 {best['precision']:.4f} "
                    f"r@10 {best['recall']:.4f} hit@10 {best['hit_rate']:.3f} "
                    f"coverage {best['coverage']:.3f}  {best['params']}",
                    flush=True,
                )
        wh.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
