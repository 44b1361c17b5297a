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
    "complete_identifiers",
    "engine_identifiers",
    "fold_text",
    "normalise_card",
    "normalise_email",
    "normalise_phone",
    "normalised_lookup",
    "phone_key",
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
#: What a card number loses (ASCII white space, dashes, dots, slashes, underscores), in
#: Python and in the engine alike.
CARD_SEPARATORS = r"[\s\-./_]"
_CARD_SEPARATORS = re.compile(CARD_SEPARATORS, re.ASCII)
#: What ``strip`` removes in the engine (ASCII white space), for the normalisers it mirrors.
_ASCII_SPACE = " \t\n\r\x0b\x0c"
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
        # Spaces, dots, dashes and brackets only separate digits: read the digits (as the
        # engine keys them), so that "0.1" and "01" are one number however phonenumbers
        # treats the dot.
        text = re.sub(PHONE_SEPARATORS, "", text)
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
        Invalid when fewer than 4 characters remain or anything but ASCII letters and digits
        does; repeated characters (``0000``) and counting sequences are placeholders.
    """
    text = raw.strip(_ASCII_SPACE)
    if text.lower() in PLACEHOLDERS["text"]:
        return Normalised(None, STATUS_PLACEHOLDER)
    value = _CARD_SEPARATORS.sub("", text).upper()
    if not all("!" <= c <= "~" for c in value):
        return Normalised(None, STATUS_INVALID)
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
FAST_EMAIL = r"^[a-z0-9_+-]+(\.[a-z0-9_+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
#: Phone numbers written with digits, spaces, dots, dashes and brackets only (and a leading +)
#: are read by ``phonenumbers`` as their digits; the engine reduces them to digits so that one
#: number written several ways is parsed once.
PLAIN_PHONE = r"^\+?[(]?[0-9][0-9 .\-()]*$"
#: The separators dropped from a plain phone number.
PHONE_SEPARATORS = r"[ .\-()]"


def _special_use_domains() -> list[str]:
    import email_validator

    return [str(d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES]


Stage = dict[str, Callable[[ir.Table], ir.Value]]


def _staged(table: ir.Table, stages: list[Stage]) -> ir.Table:
    """``table`` with each stage's columns added in turn; a stage may use earlier stages'.

    One ``mutate`` per stage keeps each intermediate a column computed once per row: Ibis
    inlines a column into the next select only when that does not make the query costlier.
    """
    for stage in stages:
        table = table.mutate(**{name: make(table) for name, make in stage.items()})
    return table


def _email_stages(raw: str, p: str) -> list[Stage]:
    """(``{p}value``, ``{p}status``) decided by the engine; status null where Python must."""
    return [
        {f"{p}text": lambda t: t[raw].strip().lower()},
        # Where the last @ is, counted from the end (string functions: a regular expression
        # with backtracking costs several times more per row).
        {f"{p}at": lambda t: t[f"{p}text"].reverse().find("@")},
        {
            f"{p}local": lambda t: ibis.cases(
                (
                    t[f"{p}at"] >= 0,
                    t[f"{p}text"].left(t[f"{p}text"].length() - t[f"{p}at"] - 1),
                ),
                else_=ibis.null("string"),
            ),
            f"{p}domain": lambda t: ibis.cases(
                (t[f"{p}at"] >= 0, t[f"{p}text"].right(t[f"{p}at"])),
                else_=ibis.null("string"),
            ),
        },
        # The last label of the domain (only read where the address has the plain form,
        # whose last label is letters).
        {f"{p}dot": lambda t: t[f"{p}domain"].reverse().find(".")},
        {
            f"{p}tld": lambda t: ibis.cases(
                (t[f"{p}dot"] >= 0, t[f"{p}domain"].right(t[f"{p}dot"])),
                else_=ibis.null("string"),
            )
        },
        {
            f"{p}status": lambda t: ibis.cases(
                (
                    t[f"{p}text"].isin(sorted(PLACEHOLDERS["text"])),
                    ibis.literal(STATUS_PLACEHOLDER),
                ),
                (
                    # Only printable ASCII is split here (an engine may reverse a combining
                    # mark with its letter); other text goes to Python.
                    ~t[f"{p}text"].re_search(r"[^ -~]")
                    & (
                        t[f"{p}local"].isin(sorted(PLACEHOLDERS["email_local"]))
                        | t[f"{p}domain"].isin(sorted(PLACEHOLDERS["email_domain"]))
                    ),
                    ibis.literal(STATUS_PLACEHOLDER),
                ),
                (
                    t[f"{p}text"].re_search(FAST_EMAIL)
                    & ~t[f"{p}domain"].contains("--")
                    & ~t[f"{p}tld"].isin(_special_use_domains())
                    & (t[f"{p}text"].length() <= 254)
                    & (t[f"{p}local"].length() <= 64),
                    ibis.literal(STATUS_VALID),
                ),
                else_=ibis.null("string"),
            )
        },
        {
            f"{p}value": lambda t: ibis.cases(
                (t[f"{p}status"] == STATUS_VALID, t[f"{p}text"]), else_=ibis.null("string")
            )
        },
    ]


def _card_stages(raw: str, p: str) -> list[Stage]:
    """(``{p}value``, ``{p}status``) of :func:`normalise_card`, in the engine."""
    return [
        {f"{p}text": lambda t: t[raw].strip()},
        {f"{p}card": lambda t: t[f"{p}text"].re_replace(CARD_SEPARATORS, "").upper()},
        {
            f"{p}status": lambda t: ibis.cases(
                (
                    t[f"{p}text"].lower().isin(sorted(PLACEHOLDERS["text"])),
                    ibis.literal(STATUS_PLACEHOLDER),
                ),
                (~t[f"{p}card"].re_search(r"^[!-~]*$"), ibis.literal(STATUS_INVALID)),
                (
                    (t[f"{p}card"] == t[f"{p}card"].substr(0, 1).repeat(t[f"{p}card"].length()))
                    | t[f"{p}card"].isin(sorted(PLACEHOLDERS["number"])),
                    ibis.literal(STATUS_PLACEHOLDER),
                ),
                (
                    (t[f"{p}card"].length() < 4) | ~t[f"{p}card"].re_search(r"^[A-Z0-9]+$"),
                    ibis.literal(STATUS_INVALID),
                ),
                else_=ibis.literal(STATUS_VALID),
            )
        },
        {
            f"{p}value": lambda t: ibis.cases(
                (t[f"{p}status"] == STATUS_VALID, t[f"{p}card"]), else_=ibis.null("string")
            )
        },
    ]


@dataclass(frozen=True)
class PhonePlan:
    """What the engine needs from ``phonenumbers``' metadata to read a region's plain numbers.

    ``possible`` and ``local`` are the national number lengths the region allows (any number
    type; local-only lengths are "possible" for :func:`phonenumbers.is_possible_number` too),
    ``general`` the pattern of its national numbers, ``national_prefix`` the regular expression
    of the prefix dialled inside the country (``None`` if none), ``prefixes`` its alternatives
    when they are plain digits (else ``None``: numbers in national form go to Python), and
    ``idd`` the international dialling prefix.
    """

    country_code: str
    possible: tuple[int, ...]
    local: tuple[int, ...]
    general: str
    national_prefix: str | None
    prefixes: tuple[str, ...] | None
    idd: str | None


def phone_plan(region: str) -> PhonePlan | None:
    """The engine's plan for ``region``, or ``None`` when every number must go to Python.

    A region whose national prefix is rewritten rather than dropped (a transform rule, as in
    Argentina), or that shares its calling code with a larger region (Guernsey and the UK),
    is left to ``phonenumbers`` entirely.
    """
    from phonenumbers.phonemetadata import PhoneMetadata

    meta = PhoneMetadata.metadata_for_region(region.upper(), None)
    if meta is None or meta.national_prefix_transform_rule or meta.country_code is None:
        return None
    if phonenumbers.region_code_for_country_code(meta.country_code) != region.upper():
        return None
    general = meta.general_desc
    if general is None or not general.possible_length or not general.national_number_pattern:
        return None
    npfp = meta.national_prefix_for_parsing or None
    prefixes = tuple(npfp.split("|")) if npfp and re.fullmatch(r"\d+(\|\d+)*", npfp) else None
    return PhonePlan(
        country_code=str(meta.country_code),
        possible=tuple(general.possible_length),
        local=tuple(general.possible_length_local_only),
        general=general.national_number_pattern,
        national_prefix=npfp,
        prefixes=prefixes if npfp else (),
        idd=meta.international_prefix or None,
    )


def _after_prefix_is_national(
    t: ir.Table, key: str, width: int, full: Callable[[ir.StringValue], ir.BooleanValue]
) -> ir.BooleanValue:
    return full(t[key].substr(width))


def _phone_key_of(t: ir.Table, column: str) -> ir.StringValue:
    return phone_key(t[column])


def _phone_stages(key: str, region: str, p: str) -> list[Stage]:
    """(``{p}value``, ``{p}status``) of :func:`normalise_phone` for the region's plain numbers.

    ``key`` is a number reduced to its digits (with a leading ``+``, :func:`phone_key`). The
    engine reads, as ``phonenumbers.parse`` does, the two forms most numbers are written in:
    international with the region's own calling code (``+447700900123``) and national
    (``07700900123``: the national prefix dropped when what remains is a possible national
    number), using the region's metadata from ``phonenumbers`` (:func:`phone_plan`); it
    decides placeholders (repeated digits, counting sequences) alike. Anything else (another
    country, the ``00`` dialling prefix, a national number starting with 0, a national prefix
    written after the calling code) gets a null status and goes to Python.
    ``tests/identity/test_normalise.py`` checks the two agree number for number.
    """
    null = ibis.null("string")
    first: Stage = {
        f"{p}plain": lambda t: t[key].re_search(r"^\+?[0-9]+$"),
        f"{p}digits": lambda t: t[key].re_replace(r"^\+", ""),
    }
    placeholder: Stage = {
        f"{p}placeholder": lambda t: (
            t[f"{p}plain"]
            & (
                (t[f"{p}digits"] == t[f"{p}digits"].substr(0, 1).repeat(t[f"{p}digits"].length()))
                | t[f"{p}digits"].isin(sorted(PLACEHOLDERS["number"]))
            )
        )
    }
    plan = phone_plan(region)
    if plan is None:
        return [
            first,
            placeholder,
            {
                f"{p}status": lambda t: ibis.cases(
                    (t[f"{p}placeholder"], ibis.literal(STATUS_PLACEHOLDER)), else_=null
                )
            },
            {f"{p}value": lambda t: null},
        ]
    cc = plan.country_code
    lengths = sorted(set(plan.possible) | set(plan.local))
    prefixes = plan.prefixes or ()

    def full(text: ir.StringValue) -> ir.BooleanValue:
        return text.re_search(f"^(?:{plan.general})$")

    def starts(text: ir.StringValue, pattern: str | None) -> ir.BooleanValue:
        if pattern is None:
            return ibis.literal(False)
        return text.re_search(f"^(?:{pattern})")

    def possible(n: ir.IntegerValue) -> ir.BooleanValue:
        """Not too short, local-only or of an impossible length (may be too long)."""
        return n.isin(list(plan.possible)) | (
            (n > max(plan.possible)) & ~n.isin(list(plan.local) or [-1])
        )

    forms: Stage = {
        # International: + and the region's own calling code.
        f"{p}intl": lambda t: (
            t[f"{p}plain"]
            & t[key].startswith(f"+{cc}")
            & ~starts(t[key].substr(len(cc) + 1), plan.national_prefix)
        ),
        # National: digits only, neither the international dialling prefix nor the calling
        # code first (phonenumbers then tries other readings).
        f"{p}national": lambda t: (
            t[f"{p}plain"]
            & ~t[key].startswith("+")
            & ~starts(t[key], plan.idd)
            & ~t[key].startswith(cc)
            & ibis.literal(plan.prefixes is not None)
        ),
        f"{p}full": lambda t: full(t[key]),
    }
    for i, prefix in enumerate(prefixes):
        width = len(prefix)
        forms[f"{p}full{i}"] = partial(_after_prefix_is_national, key=key, width=width, full=full)

    def national_number(t: ir.Table) -> ir.StringValue:
        # The first alternative the number starts with is dropped, unless the number was a
        # national number as written and would not be without it, or what remains is too
        # short, a local-only length or an impossible length.
        kept: ir.StringValue = t[key]
        for i, prefix in reversed(list(enumerate(prefixes))):
            rest = t[key].substr(len(prefix))
            drop = ~(t[f"{p}full"] & ~t[f"{p}full{i}"]) & possible(rest.length())
            kept = ibis.cases(
                (t[key].startswith(prefix), ibis.cases((drop, rest), else_=t[key])),
                else_=kept,
            )
        return ibis.cases(
            (t[f"{p}intl"], t[key].substr(len(cc) + 1)),
            (t[f"{p}national"], kept),
            else_=null,
        )

    def status(t: ir.Table) -> ir.StringValue:
        nsn = t[f"{p}nsn"]
        decided = nsn.notnull() & nsn.re_search(r"^[1-9][0-9]*$")
        return ibis.cases(
            (t[f"{p}placeholder"], ibis.literal(STATUS_PLACEHOLDER)),
            (~decided, null),
            ((nsn.length() < 2) | (nsn.length() > 17), ibis.literal(STATUS_INVALID)),
            (
                (nsn == nsn.substr(0, 1).repeat(nsn.length()))
                | nsn.isin(sorted(PLACEHOLDERS["number"])),
                ibis.literal(STATUS_PLACEHOLDER),
            ),
            (nsn.length().isin(lengths), ibis.literal(STATUS_VALID)),
            else_=ibis.literal(STATUS_INVALID),
        )

    return [
        first,
        {**placeholder, **forms},
        {f"{p}nsn": national_number},
        {f"{p}status": status},
        {
            f"{p}value": lambda t: ibis.cases(
                (t[f"{p}status"] == STATUS_VALID, f"+{cc}" + t[f"{p}nsn"]), else_=null
            )
        },
    ]


def _python_values(
    wh: Warehouse,
    keys: ir.Table,
    kind: str,
    region: str,
    created: list[str],
) -> ir.Table | None:
    """The ``(raw, value, status)`` rows of the distinct ``key`` values, normalised in Python.

    Only the keys not yet in the cache are normalised (and added to it); ``None`` when there
    are no keys. The new keys are staged with a row number and read back a page at a time,
    each page a query of its own (a result still streaming must not be open while the cache
    is written).
    """
    import pyarrow as pa

    name, keys = wh.materialize("keys", keys.select("key").distinct())
    created.append(name)
    if int(keys.count().to_pyarrow().as_py()) == 0:
        return None
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
    cache = wh.con.table(CACHE).filter((ibis._.kind == label) & (ibis._.region == region))
    mine = cache.semi_join(keys, cache.raw == keys.key).select("raw", "value", "status")
    name, lookup = wh.materialize("lookup", mine)
    created.append(name)
    return lookup


def phone_key(raw: ir.StringValue) -> ir.StringValue:
    """A phone number as ``phonenumbers`` reads it: plain numbers reduced to their digits."""
    return ibis.cases((raw.re_search(PLAIN_PHONE), raw.re_replace(PHONE_SEPARATORS, "")), else_=raw)


def engine_identifiers(table: ir.Table, columns: dict[str, str], region: str) -> ir.Table:
    """``table`` with each identifier normalised by the engine: ``KIND`` and ``KIND_status``.

    ``columns`` maps an identifier kind (``email``, ``phone``, ``card``) to the column of
    ``table`` holding it as written. The engine decides each row itself: cards; e-mail
    addresses of a plain form or a placeholder; the region's own phone numbers in national
    or international form, and placeholders (:func:`_phone_stages`, from ``phonenumbers``'
    metadata). The rest (other e-mail addresses and phone numbers) keep a null status, for
    :func:`complete_identifiers`. A null value has a null status.
    """
    null = ibis.null("string")
    stages: list[Stage] = []
    for kind, column in columns.items():
        p = f"_{kind}_"
        if kind == "card":
            mine = _card_stages(column, p)
        elif kind == "email":
            mine = _email_stages(column, p)
        else:
            key = f"{p}key"
            mine = [{key: partial(_phone_key_of, column=column)}, *_phone_stages(key, region, p)]
        stages += mine
    out = _staged(table, stages)
    return out.select(
        *table.columns,
        **{
            name: ibis.cases((out[column].isnull(), null), else_=out[f"_{kind}_{part}"])
            for kind, column in columns.items()
            for name, part in ((kind, "value"), (f"{kind}_status", "status"))
        },
    )


def complete_identifiers(
    wh: Warehouse,
    table: ir.Table,
    columns: dict[str, str],
    region: str,
    created: list[str],
) -> ir.Table:
    """``table`` (made by :func:`engine_identifiers`, staged) with every value decided.

    The distinct values the engine left undecided are normalised in Python, a page at a
    time, and kept in the ``identity_values`` cache, so that a later run normalises only
    values it has not seen; when there are any, they join back as a small lookup and the
    table is staged again. Otherwise ``table`` itself is returned.
    """

    def key(t: ir.Table, kind: str) -> ir.Value:
        return phone_key(t[columns[kind]]) if kind == "phone" else t[columns[kind]]

    def pending(t: ir.Table, kind: str) -> ir.BooleanValue:
        return t[f"{kind}_status"].isnull() & t[columns[kind]].notnull()

    lookups: dict[str, ir.Table] = {}
    for kind in columns:
        if kind == "card":
            continue
        rest = table.filter(pending(table, kind)).select(key=key(table, kind))
        lookup = _python_values(wh, rest, kind, region if kind == "phone" else "", created)
        if lookup is not None:
            lookups[kind] = lookup
    if not lookups:
        return table
    out = table
    for kind, lookup in lookups.items():
        lk = lookup.view()
        undecided = pending(out, kind)
        out = out.left_join(lk, key(out, kind) == lk.raw).select(
            *[out[c] for c in out.columns if c not in (kind, f"{kind}_status")],
            **{
                kind: ibis.cases((undecided, lk.value), else_=out[kind]),
                f"{kind}_status": ibis.cases((undecided, lk.status), else_=out[f"{kind}_status"]),
            },
        )
    name, done = wh.materialize("completed", out.select(*table.columns))
    created.append(name)
    return done


def normalised_lookup(
    wh: Warehouse, column: ir.StringColumn, kind: str, region: str, created: list[str]
) -> ir.Table:
    """A table ``(raw, value, status)`` for every distinct value of ``column``.

    See :func:`engine_identifiers` and :func:`complete_identifiers` for what the engine
    decides and what Python does.

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
    name, staged = wh.materialize("values", engine_identifiers(distinct, {kind: "raw"}, region))
    created.append(name)
    out = complete_identifiers(wh, staged, {kind: "raw"}, region, created)
    return out.select("raw", value=out[kind], status=out[f"{kind}_status"])
