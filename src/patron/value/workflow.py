"""Value workflows over the warehouse: fit, score into ``customer_value``, validate.

Everything per customer stays in the engine; numpy sees only the compressed unique rows. The
summaries they start from come from :mod:`patron.value.sources` (re-exported here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from patron.errors import ConvergenceError, DataError, UsageError
from patron.value.clv import Z95, ValueSettings, period_value_factors, value_factors
from patron.value.models import MODELS, BaseModel, DiscreteData, GammaGammaModel
from patron.value.snapshots import VALUE_TABLE, write_value
from patron.value.sources import SummarySource, summary_from_file, summary_from_warehouse
from patron.value.summary import TIME_UNITS, spend_data

__all__ = [
    "CONTINUOUS_MODELS",
    "DISCRETE_MODELS",
    "FitResult",
    "ScoreResult",
    "SummarySource",
    "fit_purchase_model",
    "require_known_model",
    "require_valid_dropout_prior",
    "require_valid_penalizer",
    "score_customers",
    "summary_from_file",
    "summary_from_warehouse",
]

CONTINUOUS_MODELS = ("bgnbd", "mbgnbd", "pnbd")
#: Models of whole periods (transaction opportunities); their summaries count periods.
DISCRETE_MODELS = ("bgbb",)
FIT_MODELS = (*CONTINUOUS_MODELS, *DISCRETE_MODELS)
#: What the CLV and equity intervals cover, said wherever they are shown.
INTERVAL_MEANING = (
    "95% interval for the parameter uncertainty only (delta method): it assumes the model is "
    "right and does not cover model error, which the holdout check grades"
)
#: Said wherever tiers are shown when no cost to serve or cost per order is known.
NO_COSTS_NOTE = (
    "no costs known: below-zero (BZ) customers cannot be identified without costs, so no BZ "
    "tier is assigned; score with `patron value score --cost-to-serve` (per customer per "
    "year) and/or `--order-cost` (per order), or load customers with a cost_to_serve column."
)
#: String columns of ``customer_value`` with a closed set of values (stored compactly where
#: the engine can, see :meth:`Warehouse.create_table`).
VALUE_CATEGORIES: dict[str, tuple[str, ...]] = {"model": FIT_MODELS, "time_unit": tuple(TIME_UNITS)}


@dataclass
class FitResult:
    """A fitted purchase model (and spend model) with how it was chosen."""

    model: BaseModel
    spend_model: GammaGammaModel | None
    unit: str
    n_customers: float
    n_unique_rows: int
    reason: str = ""
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why there is no spend model (expected spend then falls back to the mean), if so.
    spend_note: str = ""

    @property
    def dropout_identified(self) -> bool:
        """Whether the data pin the dropout process down (``False`` also for no dropout).

        Not at the no-dropout boundary, and no dropout parameter barely identified (standard
        error over 3 times the estimate). Without it P(alive) cannot tell who has left.
        """
        return not self.model.dropout_params or _identifies_dropout(self.model)

    @property
    def notes(self) -> list[str]:
        """What a user should know about this fit beyond its numbers.

        Customers alike in a mixture's spread (held at the cap), no dropout at all, and
        barely identified parameters of the purchase and the spend model
        (``BaseModel.weak_params_``).
        """
        notes = self.model.homogeneous_notes(self.unit)
        if self.spend_model is not None:
            notes.extend(self.spend_model.homogeneous_notes(self.unit))
        if self.model.no_dropout_:
            dropout = ", ".join(self.model.param_names[i] for i in self.model.dropout_params)
            notes.append(
                f"no dropout: the likelihood is highest where nobody leaves, so {self.model.name} "
                f"reduces to its purchase process alone ({dropout} at that boundary, "
                "not estimates). Every customer counts as active (P(alive) = 1) and CLV counts "
                "on everyone staying through the horizon, which overstates it if some leave. A "
                "longer calibration period usually shows dropout; check the holdout with "
                "`patron value validate`; `--model auto` prefers a model that identifies "
                "dropout when one does as well on the holdout."
            )
        elif not self.dropout_identified:
            names = [self.model.param_names[i] for i in self.model.dropout_params]
            shaky = [p for p in names if p in self.model.weak_params_]
            have = "has a standard error" if len(shaky) == 1 else "have standard errors"
            notes.append(
                f"dropout not identified: the data barely show customers leaving "
                f"({', '.join(shaky)} {have} over 3 times the estimate), so P(alive) stays near 1 "
                "for almost everyone and cannot tell who has left: a count of 0 lapsed means "
                "'cannot tell', not 'nobody left', and CLV counts on nearly everyone staying, "
                "which overstates it if some leave. `--model auto` prefers a model that "
                "identifies dropout when one does as well on the holdout; `--dropout-prior 2` "
                "is a stated assumption that can move this (check its holdout grade)."
            )
        if self.model.dropout_prior is not None:
            notes.append(
                "dropout prior: log a and log b (or γ, δ) ~ "
                f"Normal(0, {self.model.dropout_prior:g}²) keeps the fit off the no-dropout "
                "boundary; a stated assumption, not "
                "something the data showed: compare the holdout check with and without it."
            )
        dropout_weak = not self.model.no_dropout_ and not self.dropout_identified
        for label, model in (("", self.model), ("spend (Gamma-Gamma) ", self.spend_model)):
            weak = model.weak_note(label) if model is not None else None
            if weak and not (dropout_weak and model is self.model and _only_dropout(model)):
                notes.append(
                    f"{weak}, and expect wide CLV intervals. A longer calibration period or "
                    "more customers would help; `--penalizer 0.001` keeps such parameters small."
                )
        return notes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: model, params, standard errors, log-likelihood, ..."""
        out = {
            "model": self.model.name,
            "unit": self.unit,
            "params": self.model.params_,
            "standard_errors": self.model.standard_errors_,
            "log_likelihood": self.model.log_likelihood_,
            "n_customers": self.n_customers,
            "n_unique_rows": self.n_unique_rows,
            "penalizer": self.model.penalizer,
            "dropout_prior": self.model.dropout_prior,
            "dropout_identified": self.dropout_identified,
        }
        if self.spend_model is not None:
            out["spend_model"] = {
                "model": "gg",
                "params": self.spend_model.params_,
                "standard_errors": self.spend_model.standard_errors_,
                "log_likelihood": self.spend_model.log_likelihood_,
            }
        elif self.spend_note:
            out["spend_model"] = {"model": None, "note": f"{self.spend_note}; mean spend used"}
        if self.reason:
            out["selection"] = {"reason": self.reason, "candidates": self.candidates}
        out["notes"] = self.notes
        return out


def _only_dropout(model: BaseModel) -> bool:
    """Whether every weak parameter of ``model`` is a dropout parameter (said once, above)."""
    names = {model.param_names[i] for i in model.dropout_params}
    return set(model.weak_params_) <= names


def holdout_sums(source: SummarySource) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per compressed row: sum of holdout purchases and of their squares (for RMSE).

    Computed in the engine once per source (model choice and validation both need it).
    """
    if source._holdout is None:
        source._holdout = _holdout_sums(source)
    return source._holdout


def _holdout_sums(source: SummarySource) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per compressed row: sum of holdout purchases and of their squares (for RMSE)."""
    t = source.table
    w = t.weights if "weights" in t.columns else ibis.literal(1)
    grouped = (
        t.group_by("row_key")
        .aggregate(y=(t.holdout_frequency * w).sum(), y2=(t.holdout_frequency**2 * w).sum())
        .to_pyarrow()
    )
    c = source.compressed
    at = c.positions(grouped.column("row_key").to_numpy())
    y = np.zeros(len(c.counts))
    y2 = np.zeros(len(c.counts))
    y[at] = grouped.column("y").to_numpy()
    y2[at] = grouped.column("y2").to_numpy()
    return y, y2, c.counts


def holdout_prediction(model: Any, source: SummarySource) -> np.ndarray:
    """Predicted holdout purchases per compressed row."""
    c = source.compressed
    if source.discrete:  # purchase periods among the whole holdout periods
        d = c.periods
        return np.asarray(
            model.conditional_expected_purchases(
                source.info.get("holdout_periods", 0), d.frequency, d.recency, d.n_periods
            )
        )
    t = source.info["holdout_days"] / source.unit_days
    return np.asarray(
        model.conditional_expected_purchases(
            t, c.frequency, c.recency_days / c.unit_days, c.T_days / c.unit_days
        )
    )


def require_known_model(name: str) -> None:
    """Refuse, before any work, a model name that is not known."""
    if name not in (*FIT_MODELS, "auto"):
        raise UsageError(
            f"--model {name!r} is not known; use one of: {', '.join((*FIT_MODELS, 'auto'))}."
        )


def require_valid_penalizer(penalizer: float) -> None:
    """Refuse, before any work, a penalizer that is not a finite number >= 0."""
    if not (math.isfinite(penalizer) and penalizer >= 0):
        raise UsageError(f"--penalizer {penalizer} must be a number >= 0, such as 0.001.")


def require_valid_dropout_prior(name: str, dropout_prior: float | None) -> None:
    """Refuse, before any work, a dropout prior that is not a positive SD, or on pnbd."""
    if dropout_prior is None:
        return
    if not (math.isfinite(dropout_prior) and dropout_prior > 0):
        raise UsageError(
            f"--dropout-prior {dropout_prior} must be a standard deviation > 0 of the log "
            "dropout parameters, such as 2."
        )
    if name in MODELS and not MODELS[name].unitless_dropout:
        raise UsageError(
            f"--dropout-prior works with bgnbd, mbgnbd, bgbb and auto; {name}'s dropout "
            "parameters have a time unit, so one prior would mean different things per unit."
        )


def _check_source_fits(source: SummarySource, name: str) -> None:
    """A discrete model needs a summary of whole periods, the others one of days."""
    if name in DISCRETE_MODELS and not source.discrete:
        raise UsageError(
            f"--model {name} counts whole periods: summarise with SummarySpec(..., "
            "discrete=True) (the CLI does this for --model bgbb)."
        )
    if name not in DISCRETE_MODELS and source.discrete:
        raise UsageError(
            f"--model {name} needs a summary in days; this one counts whole periods (for "
            f"{', '.join(DISCRETE_MODELS)})."
        )


#: Holdout RMSEs within this share of the lowest count as a tie in ``auto``.
RMSE_TIE = 0.01
#: BIC differences up to this count as a tie (Kass & Raftery 1995: below 2, "not worth more
#: than a bare mention").
BIC_TIE = 2.0


def _bic(model: BaseModel, n: float) -> float:
    """BIC with the free parameters counted (those held at a boundary are not estimates)."""
    k = len(model.param_names) - len(model.fixed_params_)
    return float(k * np.log(n) - 2 * model.log_likelihood_)


def _identifies_dropout(model: BaseModel) -> bool:
    """Whether a fit identifies dropout (so that P(alive) can tell who has left).

    Not at the no-dropout boundary, and no dropout parameter barely identified, unless the
    dropout's spread is held homogeneous (then the common dropout is what is estimated, and
    its note says so).
    """
    names = {model.param_names[i] for i in model.dropout_params}
    if model.no_dropout_:
        return False
    return bool(names & set(model.homogeneous_params_)) or not names & set(model.weak_params_)


def _break_ties(
    fitted: dict[str, BaseModel], tied: list[str], n: float, measure: str
) -> tuple[str, str]:
    """The stated tie-break among models ``tied`` on ``measure``: the choice and why.

    1. a model that identifies dropout (P(alive) can tell who has left) over one that does
       not; 2. the lowest BIC with free parameters counted, ties within ``BIC_TIE``;
    3. the order bgnbd, pnbd, mbgnbd (the most used first).
    """
    if len(tied) == 1:
        return tied[0], ""
    names = ", ".join(tied)
    why = f"{names} tie on {measure}; "
    dropout = [c for c in tied if _identifies_dropout(fitted[c])]
    if dropout and len(dropout) < len(tied):
        why += f"{', '.join(dropout)} identif{'ies' if len(dropout) == 1 else 'y'} dropout"
        tied = dropout
        if len(tied) == 1:
            return tied[0], why + ", the others do not"
        why += "; "
    elif not dropout:
        why += "none identifies dropout; "
    else:
        why += "all identify dropout; "
    bics = {c: _bic(fitted[c], n) for c in tied}
    low = min(bics.values())
    kept = [c for c in tied if bics[c] <= low + BIC_TIE]
    dropped = [c for c in tied if c not in kept]
    if dropped:
        why += (
            f"{', '.join(dropped)} {'has' if len(dropped) == 1 else 'have'} a BIC more than "
            f"{BIC_TIE:g} above the lowest ({low:.1f}, free parameters counted); "
        )
    if len(kept) == 1:
        return kept[0], why + f"{kept[0]} has the lowest BIC"
    order = ("bgnbd", "pnbd", "mbgnbd")
    best = min(kept, key=order.index)
    return best, why + (
        f"{', '.join(kept)} have BICs within {BIC_TIE:g} of each other, so the first in the "
        f"order bgnbd, pnbd, mbgnbd is taken: {best}"
    )


def fit_purchase_model(
    source: SummarySource,
    name: str,
    *,
    penalizer: float = 0.0,
    dropout_prior: float | None = None,
    spend: bool = True,
) -> FitResult:
    """Fit ``name`` (or choose among the continuous models with ``auto``) and Gamma-Gamma.

    ``penalizer`` (>= 0) adds ``penalizer × Σ parameter²`` to the purchase model's negative
    log-likelihood summed over customers (a Gaussian prior on the parameters, whose pull fades
    as customers are added; lifetimes' ``penalizer_coef`` is per customer, so its ``c`` is
    ``c × customers`` here). It keeps the estimates finite when the data hardly identify them
    (few customers, a short calibration period), at the price of a bias toward small
    parameters. The spend model is not penalised.

    ``dropout_prior`` (σ > 0, for bgnbd, mbgnbd and bgbb) puts a Normal(0, σ²) prior on the
    log dropout parameters (see :meth:`BaseModel._penalty`); ``auto`` then chooses between
    bgnbd and mbgnbd.

    ``auto`` chooses by the lowest holdout RMSE per customer when the summary has a holdout,
    else by the lowest BIC; models within 1% of the lowest RMSE (or 2 of the lowest BIC) tie,
    and the tie goes to a model that identifies dropout, then the lowest BIC (free
    parameters counted), then the order bgnbd, pnbd, mbgnbd.

    ``spend=False`` fits the purchase model only (a holdout check predicts purchases, not
    spend); the result then has no spend model and says so in ``spend_note``.
    """
    require_known_model(name)
    require_valid_penalizer(penalizer)
    require_valid_dropout_prior(name, dropout_prior)
    _check_source_fits(source, name)
    comp = source.compressed
    candidates: dict[str, dict[str, Any]] = {}
    reason = ""
    options: dict[str, Any] = {"penalizer": penalizer, "dropout_prior": dropout_prior}
    if name in DISCRETE_MODELS:
        d = comp.periods
        some = d.n_periods >= 1  # a customer with no whole period yet tells the fit nothing
        if not some.any():
            raise DataError(
                f"No customer has a whole {source.unit} after the first purchase; use a "
                "shorter --unit."
            )
        data = DiscreteData.from_arrays(
            d.frequency[some], d.recency[some], d.n_periods[some], d.weights[some]
        )
        model: BaseModel = MODELS[name](**options).fit(data)
    elif name != "auto":
        model = MODELS[name](**options).fit(comp.rfm)
    else:
        fitted: dict[str, BaseModel] = {}
        pool = [c for c in CONTINUOUS_MODELS if dropout_prior is None or MODELS[c].unitless_dropout]
        for cand in pool:
            try:
                fitted[cand] = MODELS[cand](**options).fit(comp.rfm)
            except (DataError, ConvergenceError, UsageError) as exc:
                candidates[cand] = {"error": str(exc)}
                reason += f"{cand} failed ({str(exc)[:80]}); "
        if not fitted:
            raise DataError("No model could be fitted to this summary: " + reason)
        n = float(comp.counts.sum())
        if source.has_holdout and source.info.get("holdout_days", 0) > 0:
            y, y2, counts = holdout_sums(source)
            for cand, m in fitted.items():
                pred = holdout_prediction(m, source)
                sse = float(np.sum(y2 - 2 * pred * y + counts * pred**2))
                candidates[cand] = {
                    "holdout_rmse": float(np.sqrt(max(sse, 0.0) / n)),
                    "holdout_predicted": float(np.dot(pred, counts)),
                    "holdout_actual": float(y.sum()),
                    "log_likelihood": m.log_likelihood_,
                    "bic": _bic(m, n),
                    "identifies_dropout": _identifies_dropout(m),
                }
            low = min(candidates[c]["holdout_rmse"] for c in fitted)
            tied = [c for c in fitted if candidates[c]["holdout_rmse"] <= low * (1 + RMSE_TIE)]
            best, tie = _break_ties(fitted, tied, n, f"holdout RMSE (within {RMSE_TIE:.0%})")
            others = ", ".join(
                f"{c} {candidates[c]['holdout_rmse']:.4f}" for c in fitted if c != best
            )
            chosen = candidates[best]
            reason += (
                f"{best} {'chosen by' if tie else 'has the lowest'} holdout RMSE per customer "
                f"({chosen['holdout_rmse']:.4f}; {others})"
                + (f" — {tie}" if tie else "")
                + f"; it predicts {chosen['holdout_predicted']:,.0f} holdout purchases "
                f"against {chosen['holdout_actual']:,.0f} actual."
            )
        else:
            for cand, m in fitted.items():
                candidates[cand] = {
                    "bic": _bic(m, n),
                    "log_likelihood": m.log_likelihood_,
                    "identifies_dropout": _identifies_dropout(m),
                }
            low = min(candidates[c]["bic"] for c in fitted)
            tied = [c for c in fitted if candidates[c]["bic"] <= low + BIC_TIE]
            best, tie = _break_ties(fitted, tied, n, f"BIC (within {BIC_TIE:g})")
            reason += (
                f"{best} {'chosen by' if tie else 'has the lowest'} BIC "
                f"({candidates[best]['bic']:.1f}, no holdout)"
                + (f" — {tie}" if tie else "")
                + "; give --calibration-end to choose by holdout accuracy instead."
            )
        model = fitted[best]
    spend_model: GammaGammaModel | None = None
    spend_note = "the summary has no monetary_value"
    if not spend:
        spend_note = "not fitted (purchases only)"
    elif "monetary_value" in source.table.columns:
        try:
            spend_model = GammaGammaModel().fit(spend_data(source.table))
            spend_note = ""
        except (DataError, ConvergenceError) as exc:  # CLV then uses the mean spend
            spend_note = str(exc).rstrip(".")
    return FitResult(
        model,
        spend_model,
        source.unit,
        float(comp.counts.sum()),
        len(comp.counts),
        reason,
        candidates,
        spend_note,
    )


@dataclass
class ScoreResult:
    """What scoring wrote and the customer equity with its interval."""

    table: str
    customers: int
    equity: float
    equity_low: float
    equity_high: float
    settings: ValueSettings
    fit: FitResult
    margin_basis: str
    top: list[dict[str, Any]]
    #: Repeat buyers whose net spend is zero or negative (returns as large as purchases):
    #: left out of the spend model, expected to spend nothing per purchase.
    nonpositive_spend: int = 0
    #: Whether a cost to serve or a cost per order is known (else BZ cannot be identified).
    costs_known: bool = False
    cost_basis: str = ""
    #: The holdout check of the model (``patron.value.validation.ModelCheck.to_dict()``).
    check: dict[str, Any] | None = None
    #: Customers in the log with returns only (no purchase): nothing to model, not scored.
    only_returns: int = 0

    @property
    def notes(self) -> list[str]:
        """The fit's notes and what scoring adds (costs, customers with net returns)."""
        notes = list(self.fit.notes)
        if self.nonpositive_spend:
            n = self.nonpositive_spend
            notes.append(
                f"{n:,} repeat buyer{'s' if n != 1 else ''} returned as much as they bought "
                "(net spend zero or negative): left out of the spend model and expected to "
                "spend 0 per purchase, so their CLV is at most 0."
            )
        if self.only_returns:
            n = self.only_returns
            notes.append(
                f"{n:,} customer{'s' if n != 1 else ''} in the log made only returns (no "
                f"purchase): {'they are' if n != 1 else 'it is'} not scored, so the scored "
                "customers are fewer than the customers loaded."
            )
        if not self.costs_known:
            notes.append(NO_COSTS_NOTE)
        return notes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; money in the data's currency, horizon in months, rates per year."""
        out = {
            "table": self.table,
            "customers": self.customers,
            "customer_equity": self.equity,
            "customer_equity_low": self.equity_low,
            "customer_equity_high": self.equity_high,
            "interval": INTERVAL_MEANING,
            "horizon_months": self.settings.horizon_months,
            "discount_rate_yearly": self.settings.discount_rate,
            "margin_basis": self.margin_basis,
            "costs": {
                "known": self.costs_known,
                "basis": self.cost_basis,
                "order_cost": self.settings.order_cost,
                "cost_to_serve_yearly": self.settings.cost_to_serve,
            },
            "nonpositive_spend_customers": self.nonpositive_spend,
            "only_returns_customers": self.only_returns,
            "model": self.fit.to_dict(),
            "top_customers": self.top,
            "notes": self.notes,
        }
        if self.check is not None:
            out["check"] = self.check
            out["grade"] = self.check["grade"]
        return out


def _spend_terms(
    table: ir.Table, spend: GammaGammaModel | None, fallback: float
) -> tuple[ir.Value, ir.Value]:
    """Expected spend per transaction and its variance (Ibis expressions, delta method)."""
    x = table.frequency.cast("float64")
    # A repeat buyer whose net spend is zero or negative (returns as large as purchases) is
    # outside the spend model (fitted on positive spend only): expected to spend nothing.
    nonpositive = ((table.frequency > 0) & (table.monetary_value <= 0)).fill_null(False)
    if spend is None:
        return ibis.ifelse(nonpositive, 0.0, fallback), ibis.literal(0.0)
    p, q, g = spend.params_.values()
    z = ibis.ifelse(x > 0, table.monetary_value, 0.0)
    num = g + x * z
    den = p * x + q - 1.0
    v = p * num / den
    grads = [num / den - p * x * num / den**2, -p * num / den**2, p / den]
    cov = spend.covariance_
    var = sum(grads[i] * grads[j] * float(cov[i, j]) for i in range(3) for j in range(3))
    return ibis.ifelse(nonpositive, 0.0, v), ibis.ifelse(nonpositive, 0.0, var)


def _constant(value: ir.Value) -> bool:
    """Whether ``value`` is a literal: the same for every customer."""
    return isinstance(value.op(), ops.Literal)


def score_customers(
    source: SummarySource,
    fit: FitResult,
    settings: ValueSettings,
    *,
    write: str | None = VALUE_TABLE,
    check: dict[str, Any] | None = None,
) -> tuple[ScoreResult, ir.Table]:
    """Score every customer: P(alive), expected purchases and spend, CLV with a 95% interval.

    The model is evaluated on the unique rows in numpy and joined back to the customers in
    the engine by ``row_key``. The scores are written to the table ``write`` (replacing
    it), or with ``write=None`` to a staging table that lives as long as ``source``; the
    returned table reads them. A yearly ``cost_to_serve`` in the summary (from
    ``customers``) is charged per month while the customer is alive; ``settings.cost_to_serve``
    replaces it for every customer. ``check`` (the model's holdout check, as a dict) is
    carried into the result.
    """
    model = fit.model
    _check_source_fits(source, model.name)
    c = source.compressed
    if source.discrete:
        fac = period_value_factors(
            model, c.periods, period_days=source.unit_days, settings=settings
        )
    else:
        fac = value_factors(
            model, c.frequency, c.recency_days, c.T_days, unit_days=c.unit_days, settings=settings
        )
    summary = source.table
    # An Arrow table straight from the numpy arrays (a dict would go through pandas).
    factors = ibis.memtable(
        pa.table(
            {
                "_key": c.keys,
                "p_alive": fac.p_alive,
                "expected_purchases": fac.expected_purchases,
                "_de": fac.de,
                "_ds": fac.ds,
                "_var_de": fac.var_de,
                "_var_ds": fac.var_ds,
                "_cov": fac.cov_de_ds,
            }
        )
    )
    sums = c.sums
    has_cts = "cost_to_serve" in summary.columns and float(sums.sum_cts.sum()) > 0
    cts: ir.Value
    if settings.cost_to_serve is not None:
        cts = ibis.literal(settings.cost_to_serve)
        sum_cts = settings.cost_to_serve * sums.rows
        cost_basis = f"cost to serve {settings.cost_to_serve:,.2f} a year per customer (given)"
    elif has_cts:
        cts = summary.cost_to_serve
        sum_cts = sums.sum_cts
        cost_basis = "each customer's cost_to_serve from the customers table"
    else:
        cts = ibis.literal(0.0)
        sum_cts = np.zeros_like(sums.rows)
        cost_basis = "no cost to serve known"
    if settings.order_cost > 0:
        cost_basis += f"; {settings.order_cost:,.2f} per order (given)"
    costs_known = settings.costs_given or has_cts
    spend_total = float(np.dot(c.frequency, sums.sum_z))
    margin_total = float(np.dot(c.frequency, sums.sum_m))
    spending = c.counts - sums.nonpositive if len(sums.nonpositive) else c.counts
    mean_spend = spend_total / max(float(np.dot(c.frequency, spending)), 1.0)
    # Σ over each row's customers of the margin rate (s1) and of rate × spend (s2).
    s1: np.ndarray
    s2: np.ndarray
    if settings.margin_rate is not None:
        rate: ir.Value = ibis.literal(settings.margin_rate)
        basis = f"margin rate {settings.margin_rate:g} of revenue (given)"
        s1, s2 = settings.margin_rate * sums.spenders, settings.margin_rate * sums.sum_z
    elif source.info.get("has_costs") and sums.margins.sum() > 0 and spend_total:
        overall = margin_total / spend_total
        rate = ibis.ifelse(
            summary.margin_value.notnull() & (summary.monetary_value > 0) & (summary.frequency > 0),
            summary.margin_value / summary.monetary_value,
            overall,
        )
        basis = f"each customer's own margin rate from costs (overall {overall:.3f})"
        s1 = sums.own_rate + overall * (sums.spenders - sums.own)
        s2 = sums.own_m + overall * (sums.sum_z - sums.own_z)
    else:
        rate = ibis.literal(1.0)
        basis = "revenue (no costs known: pass --margin-rate)"
        s1, s2 = sums.spenders, sums.sum_z
    v, var_v = _spend_terms(summary, fit.spend_model, mean_spend)
    unit_value = v * rate - settings.order_cost
    # Per-customer values that need no model factor, computed before the join.
    per_customer = summary.select(
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        _key=summary.row_key,
        _v=v,
        _rate=rate,
        _cts=cts,
        _unit=unit_value,
        _var_v=var_v,
    )
    t = per_customer.inner_join(factors, per_customer._key == factors._key)
    mcts = t._cts / 12.0
    clv = t._unit * t._de - mcts * t._ds
    var = (
        t._unit**2 * t._var_de
        + mcts**2 * t._var_ds
        - 2 * t._unit * mcts * t._cov
        + (t._rate * t._de) ** 2 * t._var_v
    )
    sd = var.clip(lower=0.0).sqrt()
    # The date the data was observed up to: snapshots of customer value are dated by it.
    as_of = (
        source.spec.observation_end
        if source.spec is not None and source.spec.observation_end
        else datetime.now(UTC).date()
    )
    columns: dict[str, ir.Value] = {
        "customer_id": t.customer_id,
        "frequency": t.frequency,
        "recency": t.recency,
        "T": t["T"],
        "monetary_value": t.monetary_value,
        "p_alive": t.p_alive,
        "expected_purchases": t.expected_purchases,
        "expected_spend": t._v,
        "margin_rate": rate if _constant(rate) else t._rate,
        "cost_to_serve_yearly": cts if _constant(cts) else t._cts,
        "discounted_purchases": t._de,
        "clv": clv,
        "clv_low": clv - Z95 * sd,
        "clv_high": clv + Z95 * sd,
        "model": ibis.literal(model.name),
        "time_unit": ibis.literal(source.unit),
        "horizon_months": ibis.literal(settings.horizon_months),
        "discount_rate_yearly": ibis.literal(settings.discount_rate),
        "as_of": ibis.literal(as_of),
        "scored_at": ibis.literal(datetime.now(UTC).replace(tzinfo=None)),
    }
    # Customer equity and its interval from the per-row sums: the parameter errors are shared
    # by all customers, so the summed gradients carry them (no per-customer pass needed).
    x = c.frequency
    if fit.spend_model is not None:
        p_, q_, g_ = fit.spend_model.params_.values()
        den = p_ * x + q_ - 1.0
        num = g_ * s1 + x * s2  # Σ rate × (g + x z)
        value_sum = p_ * num / den  # Σ rate × expected spend
        g_phi_rows = np.stack(
            [num / den - p_ * x * num / den**2, -p_ * num / den**2, p_ * s1 / den]
        )
    else:
        value_sum = mean_spend * s1
        g_phi_rows = np.zeros((3, len(x)))
    a = value_sum - settings.order_cost * sums.rows  # Σ (expected spend × rate − order cost)
    b = sum_cts / 12.0  # Σ monthly cost to serve
    equity = float(np.dot(a, fac.de) - np.dot(b, fac.ds))
    g_theta = a @ fac.grad_de - b @ fac.grad_ds
    var_eq = float(g_theta @ fac.cov_log @ g_theta)
    if fit.spend_model is not None:
        g_phi = g_phi_rows @ fac.de
        var_eq += float(g_phi @ fit.spend_model.covariance_ @ g_phi)
    half = Z95 * np.sqrt(max(var_eq, 0.0))
    del fac, g_phi_rows  # the per-row factors are in the engine now: freed before staging
    scored = t.select(**columns)
    wh = source.warehouse
    if write == VALUE_TABLE:  # untiered: the tiered run it replaces stays a snapshot
        with wh.transaction():
            write_value(wh, scored, as_of, VALUE_CATEGORIES)
        scored = wh.table(write)
    elif write:
        wh.replace_table(write, scored, categories=VALUE_CATEGORIES)
        scored = wh.table(write)
    else:
        # Only the columns that vary are staged (at 10M customers the staging table outgrows
        # the engine's memory, and every column costs there); the constants are added back.
        varying = [name for name, value in columns.items() if not _constant(value)]
        staged = source.stage("scored", scored.select(*varying))
        scored = staged.select(
            *[staged[n] if n in varying else v.name(n) for n, v in columns.items()]
        )
    top = (
        scored.order_by(ibis.desc("clv"))
        .limit(5)
        .select("customer_id", "clv", "clv_low", "clv_high", "p_alive")
        .to_pyarrow()
        .to_pylist()
    )
    result = ScoreResult(
        write or "",
        int(sums.rows.sum()),
        equity,
        float(equity - half),
        float(equity + half),
        settings,
        fit,
        basis,
        top,
        int(sums.nonpositive.sum()),
        costs_known,
        cost_basis,
        check,
        int(source.info.get("customers_only_returns", 0)),
    )
    return result, scored
