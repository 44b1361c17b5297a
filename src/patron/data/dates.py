"""Parsing dates in the engine from strftime-style formats, portably and without exceptions.

A format such as ``%Y%m%d`` becomes a regular expression whose groups are reassembled into an
ISO timestamp string and ``TRY_CAST`` to a timestamp: values that do not match, or name an
impossible date (30 February), become null and are reported as unparseable, on every engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from patron.errors import UsageError

__all__ = ["CANDIDATE_FORMATS", "guess_format", "parse_timestamp"]

_DIRECTIVES: dict[str, tuple[str, str]] = {
    "Y": (r"(\d{4})", "year"),
    "y": (r"(\d{2})", "year2"),
    "m": (r"(\d{1,2})", "month"),
    "d": (r"(\d{1,2})", "day"),
    "H": (r"(\d{1,2})", "hour"),
    "M": (r"(\d{1,2})", "minute"),
    "S": (r"(\d{1,2})", "second"),
    "f": (r"(\d{1,6})", "fraction"),
}

#: ISO 8601 with an optional time and, after a time, an optional UTC offset (``Z``,
#: ``+05:00``, ``-0800``). The offset is dropped: the wall-clock time as written is kept,
#: the local time of the sale, so a purchase stays on the calendar day the customer saw.
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_OFFSET = r"\s?(?:Z|z|[+-]\d{2}(?::?\d{2})?)"
_ISO = re.compile(rf"^{_DATE}(?:{_TIME}(?:{_OFFSET})?)?$")
#: An ISO timestamp with an offset: group 1 is the wall-clock part kept.
_ISO_WITH_OFFSET = rf"^({_DATE}{_TIME}){_OFFSET}$"

#: Formats tried, in order, when no --date-format is given. Day-first and month-first
#: formats are both listed; when both fit every sampled value the format is ambiguous.
CANDIDATE_FORMATS: tuple[str, ...] = (
    "%Y%m%d",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d-%m-%Y",
    "%Y%m%d%H%M%S",
)


def _compile(fmt: str) -> tuple[str, list[str]]:
    """Regex and field names of a strftime format.

    One- or two-digit fields (``%m``, ``%d``, ...) accept one digit only when a separator
    stands beside them: in ``%Y%m%d`` every field has its fixed width, so ``1997011`` is
    rejected instead of being read as some guess.
    """
    tokens: list[tuple[str, str]] = []  # ("dir", code) or ("lit", text)
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt):
                raise UsageError(f"--date-format {fmt!r} ends with a lone '%'.")
            code = fmt[i + 1]
            if code == "%":
                tokens.append(("lit", "%"))
            elif code in _DIRECTIVES:
                tokens.append(("dir", code))
            else:
                raise UsageError(
                    f"--date-format {fmt!r}: directive %{code} is not supported; use "
                    f"{', '.join('%' + k for k in _DIRECTIVES)} and literal characters."
                )
            i += 2
        else:
            tokens.append(("lit", ch))
            i += 1
    pattern = ["^"]
    fields: list[str] = []
    for k, (kind, value) in enumerate(tokens):
        if kind == "lit":
            pattern.append(re.escape(value))
            continue
        regex, name = _DIRECTIVES[value]
        near = [tokens[j][0] for j in (k - 1, k + 1) if 0 <= j < len(tokens)]
        if "dir" in near and regex == r"(\d{1,2})":
            regex = r"(\d{2})"
        pattern.append(regex)
        fields.append(name)
    pattern.append("$")
    if not {"year", "year2"} & set(fields) or "month" not in fields or "day" not in fields:
        raise UsageError(
            f"--date-format {fmt!r} needs a year (%Y or %y), a month (%m) and a day (%d)."
        )
    return "".join(pattern), fields


def parse_timestamp(value: ir.Value, fmt: str | None) -> ir.TimestampValue:
    """Parse a string column into a timestamp; null where it does not parse.

    Parameters
    ----------
    value
        A string (or integer) column.
    fmt
        A strftime-style format (``%Y%m%d``, ``%d/%m/%Y %H:%M``, ...), or ``None`` for ISO 8601
        (``YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|+HH:MM]``; an offset is dropped, keeping the
        wall-clock time as written).
    """
    text = value.cast("string").strip()
    if fmt is None:
        wall = ibis.ifelse(
            text.re_search(_ISO_WITH_OFFSET), text.re_extract(_ISO_WITH_OFFSET, 1), text
        )
        return wall.try_cast("timestamp")
    pattern, fields = _compile(fmt)
    parts: dict[str, ir.StringValue] = {
        name: text.re_extract(pattern, i + 1) for i, name in enumerate(fields)
    }

    def pad(name: str, default: str) -> ir.StringValue:
        if name not in parts:
            return ibis.literal(default)
        return parts[name].lpad(2, "0")

    if "year" in parts:
        year = parts["year"]
    else:
        y2 = parts["year2"]
        year = ibis.ifelse(y2.cast("int32") < 69, "20", "19").concat(y2)
    iso = year.concat(
        "-", pad("month", "01"), "-", pad("day", "01"), " ",
        pad("hour", "00"), ":", pad("minute", "00"), ":", pad("second", "00"),
    )  # fmt: skip
    if "fraction" in parts:
        iso = iso.concat(".", parts["fraction"])
    matched = text.re_search(pattern)
    return ibis.ifelse(matched, iso, ibis.null("string")).try_cast("timestamp")


def _fits(values: Sequence[str], fmt: str | None) -> int:
    if fmt is None:
        return sum(1 for v in values if _ISO.match(v))
    count = 0
    for v in values:
        try:
            datetime.strptime(v, fmt)
        except ValueError:
            continue
        count += 1
    return count


def guess_format(values: Sequence[str], *, column: str = "timestamp") -> str | None:
    """Pick the date format that fits most sampled values (``None`` = ISO 8601).

    A few bad values do not stop the guess (they are rejected row by row later), but the
    winning format must fit at least half of the sample.

    Raises
    ------
    UsageError
        When no known format fits, or day-first and month-first fit equally well.
    """
    values = [v.strip() for v in values if v is not None and v.strip()]
    if not values:
        return None
    scores = {fmt: _fits(values, fmt) for fmt in (None, *CANDIDATE_FORMATS)}
    best = max(scores, key=lambda f: scores[f])  # the first of equal scores wins
    if scores[best] * 2 < len(values) or scores[best] == 0:
        raise UsageError(
            f"Cannot tell the date format of {column!r} (e.g. {values[0]!r}); pass it with "
            "--date-format, e.g. --date-format '%d/%m/%Y %H:%M'."
        )
    if best is not None:
        swapped = best.replace("%d", "%_").replace("%m", "%d").replace("%_", "%m")
        if swapped != best and scores.get(swapped) == scores[best]:
            raise UsageError(
                f"The dates in {column!r} are ambiguous (e.g. {values[0]!r} fits both {best!r} "
                f"and {swapped!r}); pass the right one with --date-format."
            )
    return best
