"""Table contracts: the columns each warehouse table has, their types and what they mean.

Every loaded table has exactly its contract's columns (missing optional columns are null), so
later steps can rely on them on any engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CONTRACTS", "Column", "Contract", "contract_for", "normalise_name"]


@dataclass(frozen=True)
class Column:
    """One column of a contract."""

    name: str
    dtype: str  # "string", "timestamp", "float64", "boolean"
    required: bool
    description: str
    synonyms: tuple[str, ...] = ()
    #: A number that may also come as a yes/no flag (text true/false, yes/no: 1/0).
    flag: bool = False


@dataclass(frozen=True)
class Contract:
    """The columns of one warehouse table and its key."""

    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    description: str = ""
    #: Whether a key twice in one file is refused (else the file's last line wins).
    unique_key: bool = False

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of required columns."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def normalise_name(name: str) -> str:
    """Lower-case and drop everything but letters and digits (``Customer ID`` -> ``customerid``)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


TRANSACTIONS = Contract(
    table="transactions",
    description="One row per purchase (or order line). Returns are kept, marked is_return.",
    columns=(
        Column(
            "customer_id",
            "string",
            True,
            "The customer's identifier.",
            ("customerid", "customer", "custid", "cust", "clientid", "client", "userid", "id"),
        ),
        Column(
            "timestamp",
            "timestamp",
            True,
            "When the purchase happened.",
            ("date", "datetime", "invoicedate", "orderdate", "purchasedate", "time", "ts"),
        ),
        Column(
            "amount",
            "float64",
            True,
            "Revenue of the row in the company's currency (negative for returns).",
            ("sales", "dollarvalue", "dollars", "revenue", "value", "total", "spend", "price"),
        ),
        Column(
            "order_id",
            "string",
            False,
            "Order or invoice identifier.",
            ("invoiceno", "invoice", "invoiceid", "orderid", "order", "transactionid", "basketid"),
        ),
        Column(
            "product_id",
            "string",
            False,
            "Product identifier.",
            ("stockcode", "sku", "productid", "product", "itemid", "item", "articleid"),
        ),
        Column("category", "string", False, "Product category.", ("productcategory",)),
        Column(
            "quantity",
            "float64",
            False,
            "Units bought (negative for returns).",
            ("qty", "numberofcds", "cds", "units", "quantity"),
        ),
        Column("cost", "float64", False, "Cost of goods of the row (for margin).", ("cogs",)),
        Column("channel", "string", False, "Channel: web, store, phone, app, ...", ()),
        Column(
            "discount",
            "float64",
            False,
            "Discount on the row: an amount (currency), or 1 for a discounted row when only a "
            "yes/no flag is known.",
            ("discountamount", "markdown"),
            flag=True,
        ),
        Column("is_return", "boolean", False, "Return or cancellation (derived when absent).", ()),
    ),
)

CUSTOMERS = Contract(
    table="customers",
    key=("customer_id",),
    description="One row per customer; loading again updates customers by customer_id.",
    columns=(
        Column(
            "customer_id",
            "string",
            True,
            "The customer's identifier.",
            TRANSACTIONS.columns[0].synonyms,
        ),
        Column(
            "signup_date",
            "timestamp",
            False,
            "When the customer was acquired.",
            ("signup", "createdat", "acquired", "firstseen"),
        ),
        Column(
            "cost_to_serve",
            "float64",
            False,
            "Yearly cost to serve the customer (currency per year).",
            ("servicecost", "costtoserve"),
        ),
        Column(
            "customer_type",
            "string",
            False,
            "end_user or reseller.",
            ("type", "customertype", "kind"),
        ),
        Column("email", "string", False, "E-mail address.", ("mail", "emailaddress")),
        Column("phone", "string", False, "Phone number.", ("telephone", "phonenumber", "mobile")),
        Column("region", "string", False, "Region or country.", ("country", "state")),
    ),
)

PRODUCTS = Contract(
    table="products",
    key=("product_id",),
    description="One row per product; loading again updates products by product_id.",
    columns=(
        Column(
            "product_id", "string", True, "Product identifier.", TRANSACTIONS.columns[4].synonyms
        ),
        Column("category", "string", False, "Product category.", ("productcategory",)),
        Column("price", "float64", False, "List price (currency).", ("unitprice", "listprice")),
        Column("cost", "float64", False, "Unit cost (currency).", ("unitcost", "cogs")),
        Column("name", "string", False, "Product name.", ("description", "title", "productname")),
    ),
)

IDENTITIES = Contract(
    table="identities",
    key=("source", "record_id"),
    unique_key=True,
    description=(
        "One row per customer record of a source system (loyalty cards, web accounts, "
        "call-centre records, a CRM); loading again updates records by (source, record_id). "
        "A (source, record_id) twice in one file is refused."
    ),
    columns=(
        Column(
            "source",
            "string",
            True,
            "The system the record comes from (pos, web, callcentre, crm, ...).",
            ("system", "sourcesystem", "origin", "database"),
        ),
        Column(
            "record_id",
            "string",
            True,
            "The record's identifier, unique within its source.",
            ("recordid", "recid", "rowid", "accountid", "account", "id"),
        ),
        Column(
            "customer_id",
            "string",
            False,
            "The id that this source's transactions carry (joins the transaction log).",
            ("customerid", "custid", "clientid", "userid"),
        ),
        Column("email", "string", False, "E-mail address.", ("mail", "emailaddress")),
        Column(
            "phone",
            "string",
            False,
            "Phone number (any format; normalised to E.164).",
            ("telephone", "phonenumber", "mobile", "tel"),
        ),
        Column(
            "card",
            "string",
            False,
            "Loyalty card or another identity number held by one person.",
            ("cardnumber", "loyaltycard", "cardno", "membershipnumber", "memberid"),
        ),
        Column(
            "given_name",
            "string",
            False,
            "Given (first) name.",
            ("firstname", "forename", "givenname", "first"),
        ),
        Column(
            "surname",
            "string",
            False,
            "Surname (family name).",
            ("lastname", "familyname", "last"),
        ),
        Column(
            "date_of_birth",
            "string",
            False,
            "Date of birth as written (compared as text after normalisation).",
            ("dob", "birthdate", "dateofbirth", "birthday"),
        ),
        Column("street_number", "string", False, "House number.", ("housenumber", "streetno")),
        Column(
            "address",
            "string",
            False,
            "Street address.",
            ("street", "address1", "addressline1", "streetaddress"),
        ),
        Column("city", "string", False, "City or suburb.", ("town", "suburb", "locality")),
        Column("postcode", "string", False, "Postal code.", ("zip", "zipcode", "postalcode")),
        Column("state", "string", False, "State, county or region.", ("county", "region")),
        Column("country", "string", False, "Country.", ("countrycode",)),
        Column(
            "company",
            "string",
            False,
            "Company (business customers).",
            ("companyname", "organisation", "organization", "employer"),
        ),
    ),
)

CONTRACTS: dict[str, Contract] = {
    c.table: c for c in (TRANSACTIONS, CUSTOMERS, PRODUCTS, IDENTITIES)
}


def contract_for(table: str) -> Contract:
    """The contract of ``table`` (``transactions``, ``customers``, ``products``, ``identities``)."""
    try:
        return CONTRACTS[table]
    except KeyError:
        from patron.errors import UsageError

        raise UsageError(
            f"Unknown table {table!r}; choose one of: {', '.join(CONTRACTS)}."
        ) from None
