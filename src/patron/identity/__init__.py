"""Identify: one customer across cards, e-mails, phones and names.

Identity records (``identities``) are normalised, linked by shared identifiers and by Splink's
probabilistic matching, grouped into connected components in the engine, and named with
stable resolved ids in ``identity_map``. Manual merges and splits are decisions that later runs
keep, and any run or decision can be undone.
"""

from patron.identity.erase import IdentityErasure, erase_identity
from patron.identity.manual import (
    customer_history,
    explain_records,
    find_record,
    merge_customers,
    split_customer,
    undo,
)
from patron.identity.normalise import (
    PLACEHOLDERS,
    fold_text,
    normalise_card,
    normalise_email,
    normalise_phone,
)
from patron.identity.resolve import (
    CUSTOMER_MAP,
    MAP,
    RULES,
    RUNS,
    ResolveOptions,
    RunReport,
    lookup_identifiers,
    phone_region,
    primary_identifiers,
    resolve_identities,
    restore_before,
    source_priority,
)

__all__ = [
    "CUSTOMER_MAP",
    "MAP",
    "PLACEHOLDERS",
    "RULES",
    "RUNS",
    "IdentityErasure",
    "ResolveOptions",
    "RunReport",
    "customer_history",
    "erase_identity",
    "explain_records",
    "find_record",
    "fold_text",
    "lookup_identifiers",
    "merge_customers",
    "normalise_card",
    "normalise_email",
    "normalise_phone",
    "phone_region",
    "primary_identifiers",
    "resolve_identities",
    "restore_before",
    "source_priority",
    "split_customer",
    "undo",
]
