"""Power and holdout size, in business units, on statsmodels.

- Conversion rates: the effect is the difference of rates (``mde`` in absolute points, e.g.
  0.01 for one point), turned into Cohen's h (``proportion_effectsize``) for
  ``NormalIndPower``.
- Means (revenue per customer, ...): the effect is ``mde`` in currency with the metric's
  standard deviation ``sd``: d = mde / sd for ``TTestIndPower``.
- The holdout share h sets the ratio of control to treated customers: h / (1 − h).
- Given an audience size instead of an effect, the minimum detectable effect is solved for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from patron.errors import UsageError

__all__ = ["PowerPlan", "plan_experiment"]


@dataclass
class PowerPlan:
    """Sizes needed (or the effect detectable) for a two-arm comparison."""

    metric: str
    baseline: float
    sd: float | None
    mde: float
    alpha: float
    power: float
    holdout_share: float
    treated: int
    control: int
    total: int
    detectable_relative: float | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _check(alpha: float, power: float, holdout: float) -> None:
    if not 0 < alpha < 0.5:
        raise UsageError(f"--alpha must be between 0 and 0.5, got {alpha}.")
    if not 0 < power < 1:
        raise UsageError(f"--power must be between 0 and 1, got {power}.")
    if not 0 < holdout < 1:
        raise UsageError(f"--holdout must be a share between 0 and 1, got {holdout}.")


def plan_experiment(
    baseline: float,
    *,
    mde: float | None = None,
    audience: int | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    holdout: float = 0.5,
) -> PowerPlan:
    """Customers needed to detect ``mde``, or the effect detectable with ``audience``.

    Parameters
    ----------
    baseline
        The control group's expected rate (0-1) — or, with ``sd``, its mean (currency).
    mde
        Minimum detectable effect: absolute rate difference (0.01 = one point), or an amount
        per customer (currency) with ``sd``.
    audience
        Customers available (treated + control); give this instead of ``mde`` to get the
        detectable effect.
    sd
        Standard deviation of the metric per customer (currency); makes it a means test.
    alpha, power
        Two-sided significance level and power.
    holdout
        Share of the audience kept as control.
    """
    _check(alpha, power, holdout)
    if (mde is None) == (audience is None):
        raise UsageError("Give either --mde (sizes needed) or --audience (detectable effect).")
    ratio = holdout / (1 - holdout)  # control per treated customer
    is_rate = sd is None
    if is_rate and not 0 < baseline < 1:
        raise UsageError(
            f"--baseline {baseline}: a rate between 0 and 1 (or give --sd for a mean)."
        )
    if sd is not None and sd <= 0:
        raise UsageError(f"--sd must be positive, got {sd}.")
    # statsmodels is imported here, not at the top: it costs ~1 s of every CLI command's start-up
    from statsmodels.stats.power import NormalIndPower, TTestIndPower  # type: ignore[import-untyped]
    from statsmodels.stats.proportion import proportion_effectsize  # type: ignore[import-untyped]

    engine = NormalIndPower() if is_rate else TTestIndPower()
    if mde is not None:
        if mde <= 0 or (is_rate and baseline + mde >= 1):
            raise UsageError(f"--mde {mde}: must be positive (and baseline + mde below 1).")
        effect = (
            abs(float(proportion_effectsize(baseline + mde, baseline)))
            if is_rate
            else mde / float(sd)  # type: ignore[arg-type]
        )
        n1 = float(engine.solve_power(effect, nobs1=None, alpha=alpha, power=power, ratio=ratio))
        treated = math.ceil(n1)
        control = math.ceil(n1 * ratio)
        found = mde
    else:
        assert audience is not None
        if audience < 4:
            raise UsageError(f"--audience {audience}: too few customers.")
        treated = round(audience * (1 - holdout))
        control = audience - treated
        effect = float(
            engine.solve_power(
                None, nobs1=treated, alpha=alpha, power=power, ratio=control / treated
            )
        )
        if is_rate:
            # Invert Cohen's h: h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)).
            p1 = math.sin(math.asin(math.sqrt(baseline)) + effect / 2) ** 2
            found = p1 - baseline
        else:
            found = effect * float(sd)  # type: ignore[arg-type]
    relative = found / baseline if baseline else None
    unit = "points" if is_rate else "per customer"
    shown = f"{found * 100:.3g} {unit}" if is_rate else f"{found:,.4g} {unit}"
    if mde is not None:
        text = (
            f"To detect {shown} on a baseline of {baseline:.4g} with {power:.0%} power at "
            f"alpha {alpha:g} (two-sided), with {holdout:.0%} held out: {treated:,} treated + "
            f"{control:,} control = {treated + control:,} customers."
        )
    else:
        text = (
            f"With {treated + control:,} customers ({holdout:.0%} held out: {control:,} "
            f"control), the smallest effect detectable with {power:.0%} power at alpha "
            f"{alpha:g} is {shown}"
            + (f" ({relative:+.1%} relative)." if relative is not None else ".")
        )
    return PowerPlan(
        "rate" if is_rate else "mean",
        baseline,
        sd,
        found,
        alpha,
        power,
        holdout,
        treated,
        control,
        treated + control,
        relative,
        text,
    )
