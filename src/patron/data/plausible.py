"""What a value must be to be believed: finite, of a sane magnitude, dated in a sane window.

A loaded number (amount, quantity, cost, discount, price, cost to serve) must be finite with
``|x| <= max_abs`` (1e9 by default: a billion in the company's currency on one row is a
typing or export error, and 1e308 overflows every sum); a date must lie between ``earliest``
(1970-01-01) and ``latest`` (the load time + 1 day, in UTC: a purchase dated in 2097 has not
happened). Rows outside are rejected with the reason, like any unparseable value. The same
limits apply to the numbers of a summary file and to customer costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import ibis
import ibis.expr.types as ir

__all__ = ["DEFAULT_EARLIEST", "DEFAULT_MAX_ABS", "Limits"]

#: The largest magnitude a loaded number may have (currency units or units bought).
DEFAULT_MAX_ABS = 1e9
#: The earliest date a loaded timestamp may carry.
DEFAULT_EARLIEST = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Limits:
    """The plausible range of loaded values.

    Parameters
    ----------
    max_abs
        Largest allowed magnitude of a number (currency units, or units bought).
    earliest
        Earliest allowed timestamp (naive, wall-clock time).
    latest
        Latest allowed timestamp; ``None`` for the load time + 1 day (UTC).
    """

    max_abs: float = DEFAULT_MAX_ABS
    earliest: datetime = DEFAULT_EARLIEST
    latest: datetime | None = None

    def latest_at(self, now: datetime | None = None) -> datetime:
        """The latest allowed timestamp, naive (``now`` defaults to the current UTC time)."""
        if self.latest is not None:
            return self.latest
        now = now or datetime.now(UTC).replace(tzinfo=None)
        return (now + timedelta(days=1)).replace(microsecond=0)

    def number_reason(self, value: ir.FloatingValue, name: str) -> list[tuple[ir.Value, str]]:
        """Conditions (true = bad) and reasons for a number column; nulls pass."""
        nan = value.isnan() | value.isinf()
        return [
            (nan.fill_null(False), f"non-finite {name} (NaN or infinity)"),
            (
                (value.abs() > self.max_abs).fill_null(False),
                f"{name} beyond ±{_number(self.max_abs)}",
            ),
        ]

    def number_ok(self, value: ir.FloatingValue) -> ir.BooleanValue:
        """True where a number is null or plausible (same rule as :meth:`number_reason`)."""
        return value.isnull() | (~value.isnan() & (value.abs() <= self.max_abs))

    def date_reason(self, value: ir.TimestampValue, name: str) -> tuple[ir.Value, str]:
        """Condition (true = bad) and reason for a timestamp column; nulls pass."""
        lo, hi = self.earliest, self.latest_at()
        bad = (value < ibis.literal(lo)) | (value > ibis.literal(hi))
        return bad.fill_null(False), f"{name} outside {lo:%Y-%m-%d} .. {hi:%Y-%m-%d}"

    def date_ok(self, value: ir.TimestampValue) -> ir.BooleanValue:
        """True where a timestamp is null or in the window."""
        lo, hi = self.earliest, self.latest_at()
        return value.isnull() | ((value >= ibis.literal(lo)) & (value <= ibis.literal(hi)))

    def number_problem(self, value: float) -> str | None:
        """What is wrong with one number (``None`` when it is plausible), for messages."""
        if not math.isfinite(value):
            return "is not a finite number"
        if abs(value) > self.max_abs:
            return f"is beyond ±{_number(self.max_abs)}"
        return None


def _number(value: float) -> str:
    """A limit for people: ``1,000,000,000`` rather than ``1e+09``."""
    return f"{value:,.0f}" if value == round(value) and abs(value) < 1e15 else f"{value:g}"
