"""Request and response bodies: the API's public contract (separate from the store's tables).

Times are ISO 8601 in UTC (``...Z`` in responses; a time without a zone in a request is read as
UTC). Strings are bounded, lists are bounded, unknown fields in a request are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AnswerIn",
    "AuditOut",
    "BatchLogged",
    "Channel",
    "ConsentIn",
    "ConsentOut",
    "ConsentRecordOut",
    "ContactDecisionOut",
    "CustomerExport",
    "DeclineIn",
    "DeclineOut",
    "ErasureOut",
    "FactOut",
    "Health",
    "KeyCreated",
    "KeyIn",
    "KeyOut",
    "NextQuestionOut",
    "Page",
    "PolicyIn",
    "PreferenceIn",
    "ProfileOut",
    "QuestionIn",
    "ScreenOut",
    "TouchpointBatchIn",
    "TouchpointIn",
    "TouchpointLogged",
    "TouchpointOut",
]

Channel = Literal["web", "email", "phone", "store", "app", "mail", "sms"]
ConsentChannel = Literal["web", "email", "phone", "store", "app", "mail", "sms", "all"]
Purpose = Literal["marketing", "profiling", "service"]
Kind = Literal[
    "purchase",
    "inquiry",
    "complaint",
    "service",
    "visit",
    "offer_shown",
    "offer_accepted",
    "offer_declined",
    "answer",
    "question_declined",
]
Role = Literal["admin", "manager", "agent", "integration"]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
Short = Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")]
Answer = Annotated[
    bool | float | Annotated[str, Field(max_length=500)],
    Field(description="The answer: a choice, yes/no (true/false), a number or text."),
]

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    """A request body: unknown fields refused, no NUL characters in any text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text must not contain NUL characters (\\u0000)")
        return value


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many items were skipped.")
    next_offset: int | None = Field(description="The offset of the next page; null: no more.")


class Health(BaseModel):
    """Whether the service (and, for /ready, its store) is up."""

    status: Literal["ok"]
    revision: str | None = None
    publication: int | None = None


class ProfileOut(BaseModel):
    """A customer's published profile."""

    customer_id: str
    publication_id: int
    customer_type: str | None
    clv: float | None = Field(description="Expected value over the scoring horizon.")
    clv_low: float | None = Field(description="Lower end of the CLV's 95% interval.")
    clv_high: float | None = Field(description="Upper end of the CLV's 95% interval.")
    p_alive: float | None = Field(description="Probability the customer is still buying (0-1).")
    expected_purchases: float | None
    tier: str | None
    tier_reason: str | None
    loyalty: str | None
    segment: str | None
    segment_description: str | None
    last_purchase: str | None = Field(description="Date of the last purchase (YYYY-MM-DD).")
    time_zone: str | None
    email: str | None
    phone: str | None


class IdentifierOut(BaseModel):
    """One identifier of a customer."""

    kind: str
    value: str


class ValueOut(BaseModel):
    """The customer's value, with its interval and in words."""

    clv: float | None
    clv_low: float | None
    clv_high: float | None
    interval: str
    p_alive: float | None
    expected_purchases: float | None
    tier: str | None
    tier_reason: str | None
    loyalty: str | None
    last_purchase: str | None
    text: str


class NeedsOut(BaseModel):
    """The customer's needs segment, and what they bought lately."""

    segment: str | None
    description: str | None
    recent_categories: list[str] | None = Field(
        default=None,
        description=(
            "Categories bought in the transaction log's last 90 days ([] for none; null when "
            "the log has no categories)."
        ),
    )


class FactOut(BaseModel):
    """Something the customer told us."""

    attribute: str
    value: Any
    is_preference: bool
    source: str
    recorded_at: str
    question_id: str | None
    touchpoint_id: int | None


class TouchpointOut(BaseModel):
    """A logged touch point."""

    id: int | None
    customer_id: str
    channel: str
    kind: str
    direction: str
    occurred_at: str | None
    purpose: str | None
    campaign: str | None
    agent: str | None
    note: str | None
    idempotency_key: str | None
    question_id: str | None


class ContactDecisionOut(BaseModel):
    """Whether a contact may be made, the rule that decided, and why."""

    allowed: bool
    rule: str
    reason: str


class NextQuestionOut(BaseModel):
    """The one question to ask, what its answer is worth, and why."""

    id: str
    attribute: str
    text: str
    purpose: str
    reason: str
    answer_type: str
    choices: list[str]
    preference: bool
    value: float = Field(description="Expected improvement of the decision, in CLV units.")
    value_share: float = Field(description="The same as a share of the customer's CLV.")


class NextQuestionAnswer(BaseModel):
    """The next question, or why there is none."""

    customer_id: str
    channel: str
    question: NextQuestionOut | None
    no_question_reason: str | None


class OfferOut(BaseModel):
    """What to offer: the next best action in one line, and why.

    While the offer catalogue is empty: the tier's action.
    """

    tier: str | None
    action: str | None
    reason: str | None = None


class RelationshipOut(BaseModel):
    """The relationship level now, the level the margin and numbers call for, the actions."""

    current: str
    recommended: str | None
    actions: list[str]


class ScreenOut(BaseModel):
    """The agent screen: who, value, needs, what we know, what to ask and offer, the script."""

    customer_id: str
    channel: str
    publication: int
    identifiers: list[IdentifierOut]
    customer_type: str | None
    email: str | None
    phone: str | None
    value: ValueOut
    needs: NeedsOut
    relationship: RelationshipOut | None = None
    facts: list[FactOut]
    preferences: list[FactOut]
    touchpoints: list[TouchpointOut]
    consent: dict[str, bool]
    contact: ContactDecisionOut
    next_question: NextQuestionOut | None
    no_question_reason: str | None
    offer: OfferOut
    script: list[str]
    next_best_action: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The logged decision behind the offer (as GET /customers/{id}/next-best-action "
            "returns it; report the customer's response with POST /decisions/{id}/response)."
        ),
    )


class AnswerIn(_In):
    """A customer's answer to a question (recorded as a fact and an ``answer`` touch point)."""

    question_id: Short
    answer: Answer
    channel: Channel
    agent: Name | None = None
    occurred_at: datetime | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")] | None = (
        None
    )


class DeclineIn(_In):
    """The customer declined to answer a question (starts its cool-down)."""

    question_id: Short
    channel: Channel
    agent: Name | None = None
    occurred_at: datetime | None = None


class DeclineOut(BaseModel):
    """The ``question_declined`` touch point recorded."""

    touchpoint_id: int


class PreferenceIn(_In):
    """A preference the customer states (recorded as the answer to its question)."""

    attribute: Short
    value: Answer
    channel: Channel
    agent: Name | None = None


class TouchpointIn(_In):
    """One touch point to log."""

    customer_id: Id
    channel: Channel
    kind: Kind
    direction: Literal["inbound", "outbound"] = "inbound"
    occurred_at: datetime | None = Field(default=None, description="Default: now (UTC).")
    purpose: Purpose | None = Field(default=None, description="Default: by kind.")
    campaign: Name | None = None
    agent: Name | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")] | None = (
        Field(default=None, description="The same key again is stored once (safe retries).")
    )
    question_id: Short | None = None


class TouchpointBatchIn(_In):
    """Up to 1000 touch points, logged in one transaction (all or none)."""

    items: Annotated[list[TouchpointIn], Field(min_length=1, max_length=1000)]


class TouchpointLogged(BaseModel):
    """The id of the stored touch point (the first record's, for a repeated key)."""

    id: int


class BatchLogged(BaseModel):
    """The ids of the stored touch points, in order."""

    ids: list[int]
    count: int


class ConsentIn(_In):
    """A consent decision given by the customer, with where and how it was given."""

    channel: ConsentChannel
    purpose: Purpose
    state: Literal["granted", "denied", "withdrawn"]
    source: Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")] = Field(
        description="Where it was given (call centre, web form, ...)."
    )
    evidence: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")] = Field(
        description="How it was given (call reference, form id, the words used): required."
    )
    occurred_at: datetime | None = None


class ConsentRecordOut(BaseModel):
    """One stored consent record."""

    id: int
    customer_id: str
    channel: str
    purpose: str
    state: str
    recorded_at: str
    source: str
    evidence: str | None


class ConsentDecisionOut(BaseModel):
    """Whether a purpose is allowed on a channel, and why."""

    allowed: bool
    reason: str
    record: ConsentRecordOut | None


class ConsentOut(BaseModel):
    """The customer's consent on a channel, per purpose."""

    customer_id: str
    channel: str
    purposes: dict[str, ConsentDecisionOut]


class RuleIn(_In):
    """One contact rule."""

    name: Name
    channel: Channel | None = None
    tiers: Annotated[list[Short], Field(max_length=20)] = Field(default_factory=list)
    max_contacts: Annotated[int, Field(ge=0, le=10_000)] | None = None
    window_days: Annotated[float, Field(gt=0, le=3660)] = 7.0
    min_gap_hours: Annotated[float, Field(ge=0, le=87_840)] | None = None
    quiet_start: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = None
    quiet_end: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = None
    blocked: bool = False


class PolicyIn(_In):
    """The contact policy: rules, the default time zone, consent defaults."""

    rules: Annotated[list[RuleIn], Field(max_length=200)] = Field(default_factory=list)
    default_time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    consent_defaults: dict[Purpose, dict[Channel, bool]] = Field(default_factory=dict)


class PolicyOut(BaseModel):
    """The contact policy in force."""

    rules: list[dict[str, Any]]
    default_time_zone: str
    consent_defaults: dict[str, dict[str, bool]]


Share = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class QuestionIn(_In):
    """A question of the bank (see docs/interact.md for the fields)."""

    attribute: Short
    text: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
    answer_type: Literal["choice", "boolean", "number", "text"]
    purpose: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
    channels: Annotated[list[Channel], Field(min_length=1, max_length=7)]
    choices: Annotated[list[Short], Field(max_length=50)] = Field(default_factory=list)
    informs: Annotated[list[Short], Field(max_length=20)] = Field(default_factory=list)
    cooldown_days: Annotated[float, Field(ge=0, le=3660)] = 30.0
    fresh_days: Annotated[float, Field(gt=0, le=36600)] | None = None
    preference: bool = False
    prior: dict[Short, Annotated[float, Field(ge=0, le=1e6)]] = Field(default_factory=dict)
    prior_by_segment: dict[Short, dict[Short, Annotated[float, Field(ge=0, le=1e6)]]] = Field(
        default_factory=dict
    )
    value_if_right: Annotated[float, Field(ge=0, le=1e6)] | None = None
    payoff: dict[Short, dict[Short, Share]] = Field(default_factory=dict)
    minimum: Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)] | None = None
    maximum: Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)] | None = None


class QuestionOut(BaseModel):
    """A question of the bank, as stored."""

    id: str
    attribute: str
    text: str
    answer_type: str
    purpose: str
    channels: list[str]
    choices: list[str] = Field(default_factory=list)
    informs: list[str] = Field(default_factory=list)
    cooldown_days: float | None = None
    fresh_days: float | None = None
    preference: bool = False
    prior: dict[str, float] = Field(default_factory=dict)
    prior_by_segment: dict[str, dict[str, float]] = Field(default_factory=dict)
    payoff: dict[str, dict[str, float]] = Field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None


class CustomerExport(BaseModel):
    """Everything the store holds about a customer (a data subject access request)."""

    customer_id: str
    profiles: list[dict[str, Any]]
    identifiers: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    touchpoints: list[dict[str, Any]]


class ErasureOut(BaseModel):
    """What the erasure removed or anonymised in the store."""

    customer_id: str
    profiles: int
    identifiers: int
    facts: int
    touchpoints_anonymised: int
    consents_anonymised: int
    warehouse: str = Field(
        description="The warehouse side is erased by `patron interact erase`, not the service."
    )


class KeyIn(_In):
    """A key to create."""

    name: Name
    role: Role
    expires_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None, description="Days until the key expires (default: until revoked)."
    )


class KeyOut(BaseModel):
    """A stored key (never the key itself)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    state: str


class KeyCreated(BaseModel):
    """A new key: ``key`` is shown this once."""

    key: str
    role: str
    name: str
    id: int
    expires_at: str | None


class AuditOut(BaseModel):
    """One audited write."""

    id: int
    at: str
    key_id: int | None
    role: str | None
    action: str
    target: str | None
    detail: dict[str, Any] | None
