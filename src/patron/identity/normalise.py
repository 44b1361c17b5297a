"""Identifiers and names made comparable: e-mail, E.164 phone, card, folded text.

Strong identifiers (e-mail, phone, card) are checked by the libraries made for them
(``email-validator`` for e-mail syntax, ``phonenumbers`` for phone numbers) on the *distinct*
values of a column only: the engine lists them, Python normalises them in batches, and the
result goes back into the warehouse as a small lookup table that the engine joins. Names and
addresses are folded in the engine itself (lower case, accents off, punctuation to spaces).

A value is ``valid`` (normalised, may link), ``invalid`` (reported with its records, never
links) or a ``placeholder`` (empty, ``n/a``, ``test@test.com``, ``0000000000``, ...: never
links, not an error). :data:`PLACEHOLDERS` lists what counts as a placeholder.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import ibis
import ibis.expr.types as ir
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from patron.data.warehouse import Warehouse

__all__ = [
    "IDENTIFIERS",
    "PLACEHOLDERS",
    "STATUS_INVALID",
    "STATUS_PLACEHOLDER",
    "STATUS_VALID",
    "fold_text",
    "normalise_card",
    "normalise_email",
    "normalise_phone",
    "normalised_lookup",
]

STATUS_VALID = "valid"
STATUS_INVALID = "invalid"
STATUS_PLACEHOLDER = "placeholder"

#: The strong identifiers: records sharing one of these are the same customer.
IDENTIFIERS = ("email", "phone", "card")

#: Values that never link anything, documented in docs/identify.md. Text is compared after
#: trimming and lower-casing; e-mail local parts and domains separately; phone and card
#: numbers after their normalisation (digits, or letters and digits).
PLACEHOLDERS: dict[str, frozenset[str]] = {
    # Any field: the words people type when they have no value.
    "text": frozenset(
        {
            "",
            "-",
            "--",
            "---",
            ".",
            "?",
            "??",
            "0",
            "x",
            "xx",
            "xxx",
            "n/a",
            "na",
            "n.a.",
            "none",
            "null",
            "nil",
            "unknown",
            "not known",
            "not given",
            "not provided",
            "no email",
            "no phone",
            "tbc",
            "tba",
            "test",
            "dummy",
            "anonymous",
            "void",
        }
    ),
    # E-mail local parts that say "no address", whatever the domain.
    "email_local": frozenset(
        {
            "test",
            "testing",
            "noemail",
            "no-email",
            "no_email",
            "nomail",
            "no-mail",
            "none",
            "noreply",
            "no-reply",
            "donotreply",
            "do-not-reply",
            "unknown",
            "null",
            "na",
            "nil",
            "dummy",
            "fake",
            "example",
            "abc",
            "asdf",
            "xxx",
            "x",
            "a",
        }
    ),
    # E-mail domains used as placeholders (RFC 2606 names and test.com).
    "email_domain": frozenset(
        {
            "test.com",
            "example.com",
            "example.org",
            "example.net",
            "test.test",
            "email.test",
            "none.com",
            "noemail.com",
            "nomail.com",
            "domain.com",
        }
    ),
    # Phone numbers (national digits) and card numbers that stand for "none".
    "number": frozenset(
        {"1234567", "12345678", "123456789", "1234567890", "0123456789", "01234567890"}
    ),
}

_DIGITS = re.compile(r"\D")
_CARD_SEPARATORS = re.compile(r"[\s\-./_]")
_REPEATED = re.compile(r"^(.)\1*$")


@dataclass(frozen=True)
class Normalised:
    """One normalised value: the value (``None`` unless valid) and its status."""

    value: str | None
    status: str


def _placeholder_text(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDERS["text"]


def normalise_email(raw: str) -> Normalised:
    """Trim, lower-case and check the syntax of an e-mail address (no network).

    Parameters
    ----------
    raw
        The address as written.

    Returns
    -------
    Normalised
        The lower-cased address (``email-validator``'s normalised form) when valid.
    """
    text = raw.strip().lower()
    if _placeholder_text(text):
        return Normalised(None, STATUS_PLACEHOLDER)
    local, _, domain = text.rpartition("@")
    if local in PLACEHOLDERS["email_local"] or domain in PLACEHOLDERS["email_domain"]:
        return Normalised(None, STATUS_PLACEHOLDER)
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return Normalised(None, STATUS_INVALID)
    return Normalised(info.normalized.lower(), STATUS_VALID)


def normalise_phone(raw: str, region: str) -> Normalised:
    """A phone number in E.164 (``+441632960001``), read in ``region`` when it has no prefix.

    Parameters
    ----------
    raw
        The number as written (spaces, brackets, dashes and extensions allowed).
    region
        ISO 3166 country code used for numbers written without an international prefix.

    Returns
    -------
    Normalised
        E.164 text when ``phonenumbers`` finds a possible number; repeated digits
        (``0000000000``) and counting sequences are placeholders.
    """
    text = raw.strip()
    if _placeholder_text(text):
        return Normalised(None, STATUS_PLACEHOLDER)
    if re.match(PLAIN_PHONE, text):
        # Spaces, dots and dashes only separate digits: read the digits (as the engine keys
        # them), so that "0.1" and "01" are one number however phonenumbers treats the dot.
        text = re.sub(r"[ .\-]", "", text)
    digits = _DIGITS.sub("", text)
    if not digits:
        return Normalised(None, STATUS_INVALID)
    if _REPEATED.match(digits) or digits in PLACEHOLDERS["number"]:
        return Normalised(None, STATUS_PLACEHOLDER)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Normalised(None, STATUS_INVALID)
    national = str(number.national_number)
    if _REPEATED.match(national) or national in PLACEHOLDERS["number"]:
        return Normalised(None, STATUS_PLACEHOLDER)
    if not phonenumbers.is_possible_number(number):
        return Normalised(None, STATUS_INVALID)
    return Normalised(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), STATUS_VALID
    )


def normalise_card(raw: str) -> Normalised:
    """A card or id number without spaces, dashes, dots or slashes, upper-cased.

    Parameters
    ----------
    raw
        The number as written.

    Returns
    -------
    Normalised
        Invalid when fewer than 4 characters remain or anything but letters and digits does;
        repeated characters (``0000``) and counting sequences are placeholders.
    """
    text = raw.strip()
    if _placeholder_text(text):
        return Normalised(None, STATUS_PLACEHOLDER)
    value = _CARD_SEPARATORS.sub("", text).upper()
    if _REPEATED.match(value) or value in PLACEHOLDERS["number"]:
        return Normalised(None, STATUS_PLACEHOLDER)
    if len(value) < 4 or not value.isalnum():
        return Normalised(None, STATUS_INVALID)
    return Normalised(value, STATUS_VALID)


#: Accented Latin letters and their base letters, for folding in the engine with TRANSLATE
#: (portable: DuckDB, Spark and PostgreSQL have it; none has one accent-folding function).
def _accent_table() -> tuple[str, str]:
    source, target = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            source.append(char)
            target.append(base)
    # Letters with a stroke do not decompose; map them by hand.
    for char, base in zip("ŁłØøĐđĦħŦŧßı", "LlOoDdHhTtsi", strict=True):
        if char not in source:
            source.append(char)
            target.append(base)
    return "".join(source), "".join(target)


_ACCENTED, _UNACCENTED = _accent_table()


def fold_text(value: ir.StringValue) -> ir.StringValue:
    """Case- and accent-folded text for comparison, computed in the engine.

    Lower case, accented Latin letters to their base letter, everything but letters and
    digits to one space, trimmed; empty text and placeholders become null.

    Parameters
    ----------
    value
        A string column.

    Returns
    -------
    ibis.expr.types.StringValue
    """
    # TRANSLATE with a long table is slow (DuckDB: ~30 s per million values), so only text
    # with a character outside printable ASCII goes through it.
    unaccented = ibis.cases(
        (value.re_search(r"[^ -~]"), value.translate(_ACCENTED, _UNACCENTED)), else_=value
    )
    folded = unaccented.lower().re_replace(r"[^a-z0-9]+", " ").strip()
    placeholders = sorted(PLACEHOLDERS["text"])
    return ibis.cases(
        (value.strip().lower().isin(placeholders), ibis.null("string")),
        else_=folded.nullif(""),
    )


NORMALISERS: dict[str, Callable[[str], Normalised]] = {
    "email": normalise_email,
    "card": normalise_card,
}


def normaliser(kind: str, region: str) -> Callable[[str], Normalised]:
    """The normalising function for identifier ``kind`` (``email``, ``phone``, ``card``)."""
    if kind == "phone":
        return partial(normalise_phone, region=region)
    return NORMALISERS[kind]


#: Normalised values kept across runs: a later run normalises only values it has not seen.
CACHE = "identity_values"
CACHE_SCHEMA = ibis.schema(
    {"kind": "string", "region": "string", "raw": "string", "value": "string", "status": "string"}
)
BATCH_ROWS = 50_000
#: Part of the cache's ``kind``: bumped when a normaliser or the placeholders change, so that
#: values cached by an earlier version are normalised again.
CACHE_VERSION = 2

#: E-mail addresses of this plain ASCII form (after trimming and lower-casing) are valid for
#: ``email-validator`` too and normalise to themselves; the engine decides them, Python only
#: the rest. Domains with ``--`` (IDNA rules) and special-use names go to Python.
FAST_EMAIL = r"^[a-z0-9_+-]+(\.[a-z0-9_+-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$"
#: Phone numbers written with digits, spaces, dots and dashes only (and a leading +) are read
#: by ``phonenumbers`` as their digits; the engine reduces them to digits so that one number
#: written several ways is parsed once.
PLAIN_PHONE = r"^\+?[0-9][0-9 .\-]*$"


def _special_use_domains() -> list[str]:
    import email_validator

    return [str(d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES]


def _email_in_engine(raw: ir.StringValue) -> tuple[ir.StringValue, ir.StringValue]:
    """(value, status) decided by the engine; status null where Python must decide."""
    text = raw.strip().lower()
    local = text.re_extract(r"^(.*)@[^@]*$", 1)
    domain = text.re_extract(r"@([^@]*)$", 1)
    tld = text.re_extract(r"\.([a-z]+)$", 1)
    placeholder = (
        text.isin(sorted(PLACEHOLDERS["text"]))
        | local.isin(sorted(PLACEHOLDERS["email_local"]))
        | domain.isin(sorted(PLACEHOLDERS["email_domain"]))
    )
    fast = (
        text.re_search(FAST_EMAIL)
        & ~domain.contains("--")
        & ~tld.isin(_special_use_domains())
        & (text.length() <= 254)
        & (local.length() <= 64)
    )
    status = ibis.cases(
        (placeholder, ibis.literal(STATUS_PLACEHOLDER)),
        (fast, ibis.literal(STATUS_VALID)),
        else_=ibis.null("string"),
    )
    value = ibis.cases((status == STATUS_VALID, text), else_=ibis.null("string"))
    return value, status


def _card_in_engine(raw: ir.StringValue) -> tuple[ir.StringValue, ir.StringValue]:
    """(value, status) of :func:`normalise_card`, computed in the engine (ASCII letters)."""
    text = raw.strip()
    value = text.re_replace(r"[\s\-./_]", "").upper()
    repeated = value == value.substr(0, 1).repeat(value.length())
    status = ibis.cases(
        (text.lower().isin(sorted(PLACEHOLDERS["text"])), ibis.literal(STATUS_PLACEHOLDER)),
        (repeated | value.isin(sorted(PLACEHOLDERS["number"])), ibis.literal(STATUS_PLACEHOLDER)),
        ((value.length() < 4) | ~value.re_search(r"^[A-Z0-9]+$"), ibis.literal(STATUS_INVALID)),
        else_=ibis.literal(STATUS_VALID),
    )
    return ibis.cases((status == STATUS_VALID, value), else_=ibis.null("string")), status


def _python_values(
    wh: Warehouse,
    keys: ir.Table,
    kind: str,
    region: str,
    created: list[str],
) -> ir.Table:
    """Normalise in Python the distinct ``key`` values not yet in the cache; the cache rows.

    The new keys are staged with a row number and read back a page at a time, each page a
    query of its own (a result still streaming must not be open while the cache is written).
    """
    import pyarrow as pa

    if not wh.has_table(CACHE):
        wh.con.create_table(CACHE, schema=CACHE_SCHEMA)
    label = f"{kind}:{CACHE_VERSION}"
    cache = wh.con.table(CACHE).filter((ibis._.kind == label) & (ibis._.region == region))
    new = keys.anti_join(cache, keys.key == cache.raw)
    numbered = new.mutate(n=ibis.row_number().over(order_by=new.key))
    name, staged = wh.materialize("normalise", numbered)
    created.append(name)
    total = int(staged.count().to_pyarrow().as_py())

    def pages() -> Iterator[list[str]]:
        for start in range(0, total, BATCH_ROWS):
            page = staged.filter((staged.n >= start) & (staged.n < start + BATCH_ROWS))
            yield [str(v) for v in page.key.to_pyarrow().to_pylist()]

    fn = normaliser(kind, region)
    for page in pages():
        results = [fn(v) for v in page]
        rows = pa.table(
            {
                "kind": pa.array([label] * len(page), pa.string()),
                "region": pa.array([region] * len(page), pa.string()),
                "raw": pa.array(page, pa.string()),
                "value": pa.array([r.value for r in results], pa.string()),
                "status": pa.array([r.status for r in results], pa.string()),
            }
        )
        wh.insert(CACHE, ibis.memtable(rows))
    return wh.con.table(CACHE).filter((ibis._.kind == label) & (ibis._.region == region))


def normalised_lookup(
    wh: Warehouse, column: ir.StringColumn, kind: str, region: str, created: list[str]
) -> ir.Table:
    """A table ``(raw, value, status)`` for every distinct value of ``column``.

    Cards, and e-mail addresses of a plain form or a placeholder, are decided in the engine.
    Other e-mail addresses and phone numbers (reduced to their digits where that cannot
    change how ``phonenumbers`` reads them) are normalised in Python, distinct values only,
    a page at a time, and kept in the ``identity_values`` cache, so that a later run
    normalises only values it has not seen.

    Parameters
    ----------
    wh
        The warehouse.
    column
        The raw identifier column.
    kind
        ``email``, ``phone`` or ``card``.
    region
        Default region for phone numbers (ISO 3166 code).
    created
        Staging tables of the operation (dropped by the caller).

    Returns
    -------
    ibis.expr.types.Table
    """
    distinct = column.name("raw").as_table().filter(ibis._.raw.notnull()).distinct()
    if kind == "card":
        value, status = _card_in_engine(distinct.raw)
        return distinct.select("raw", value=value, status=status)
    if kind == "email":
        value, status = _email_in_engine(distinct.raw)
        decided = distinct.select("raw", value=value, status=status)
        name, decided = wh.materialize("emails", decided)
        created.append(name)
        rest = decided.filter(decided.status.isnull()).select(key=decided.raw)
        cached = _python_values(wh, rest, kind, "", created)
        joined = decided.left_join(cached, decided.raw == cached.raw)
        return joined.select(
            raw=decided.raw,
            value=ibis.coalesce(decided.value, cached.value),
            status=ibis.coalesce(decided.status, cached.status),
        )
    plain = distinct.raw.re_search(PLAIN_PHONE)
    keyed = distinct.select(
        "raw",
        key=ibis.cases((plain, distinct.raw.re_replace(r"[ .\-]", "")), else_=distinct.raw),
    )
    name, keyed = wh.materialize("phones", keyed)
    created.append(name)
    cached = _python_values(wh, keyed.select("key").distinct(), kind, region, created)
    joined = keyed.left_join(cached, keyed.key == cached.raw)
    return joined.select(raw=keyed.raw, value=cached.value, status=cached.status)
