"""The customer's response to a next best action: accepted or declined.

An agent (or an integrator's web shop) reports what the customer did with the offer a decision
chose. In one transaction the decision counts as made (status ``sent``: it counts toward the
offer's ``max_per_customer``), the response is kept with the decision (``detail.response``) and
an ``offer_accepted`` / ``offer_declined`` touch point is logged, so contact history, exports and
campaign analysis see it. Reporting the same response again changes nothing; reporting the
other one is refused (a response is a fact, not a setting).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from patron.errors import NotFoundError, UsageError
from patron.interact.touchpoints import Touchpoint, insert_touchpoints
from patron.interact.vocabulary import to_utc, utc_now
from patron.store import Store
from patron.store.schema import decisions

__all__ = ["OUTCOMES", "DecisionResponse", "record_response"]

#: What the customer did with the offer.
OUTCOMES = ("accepted", "declined")


@dataclass(frozen=True)
class DecisionResponse:
    """A recorded response: the decision, its offer, the outcome and the touch point logged."""

    decision_id: int
    customer_id: str
    offer_id: str
    outcome: str
    at: datetime
    touchpoint_id: int | None
    repeated: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (time in ISO 8601, UTC)."""
        return {
            "decision_id": self.decision_id,
            "customer_id": self.customer_id,
            "offer_id": self.offer_id,
            "outcome": self.outcome,
            "at": self.at.isoformat() + "Z",
            "touchpoint_id": self.touchpoint_id,
            "repeated": self.repeated,
        }


def record_response(
    store: Store,
    decision_id: int,
    outcome: str,
    *,
    agent: str | None = None,
    at: datetime | None = None,
) -> DecisionResponse:
    """Record that the customer accepted or declined the offer decision ``decision_id`` chose.

    Raises
    ------
    NotFoundError
        No such decision.
    UsageError
        An unknown outcome; a decision that chose no action; a decision already answered with
        the other outcome.
    """
    if outcome not in OUTCOMES:
        raise UsageError(f"Unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}.")
    when = to_utc(at) if at is not None else utc_now()
    with store.write() as conn:
        row = conn.execute(sa.select(decisions).where(decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(f"No decision {decision_id} (see the customer's decisions).")
        if row.offer_id is None:
            raise UsageError(
                f"Decision {decision_id} chose no action: there is no offer to accept or decline."
            )
        detail: dict[str, Any] = json.loads(row.detail)
        earlier = detail.get("response")
        if earlier is not None:
            if earlier["outcome"] != outcome:
                raise UsageError(
                    f"Decision {decision_id} was already {earlier['outcome']} at "
                    f"{earlier['at']}; a response is recorded once."
                )
            return DecisionResponse(
                decision_id,
                str(row.customer_id),
                str(row.offer_id),
                outcome,
                datetime.fromisoformat(str(earlier["at"]).rstrip("Z")),
                earlier.get("touchpoint_id"),
                repeated=True,
            )
        ids, _ = insert_touchpoints(
            conn,
            [
                Touchpoint(
                    customer_id=str(row.customer_id),
                    channel=str(row.channel),
                    kind=f"offer_{outcome}",
                    direction="inbound",
                    occurred_at=when,
                    campaign=row.campaign,
                    agent=agent,
                    note=f"offer {row.offer_id} (decision {decision_id})",
                    idempotency_key=f"decision-{decision_id}-response",
                ).validated()
            ],
        )
        touchpoint_id = ids[0] if ids else None
        detail["response"] = {
            "outcome": outcome,
            "at": when.isoformat() + "Z",
            "touchpoint_id": touchpoint_id,
        }
        conn.execute(
            sa.update(decisions)
            .where(decisions.c.id == decision_id)
            .values(status="sent", detail=json.dumps(detail, sort_keys=True))
        )
    return DecisionResponse(
        decision_id,
        str(row.customer_id),
        str(row.offer_id),
        outcome,
        when,
        touchpoint_id,
        repeated=False,
    )
