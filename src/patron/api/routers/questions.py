"""The question bank: list, read, add or replace, delete (drip irrigation's questions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from patron.api.auth import Caller, allow, store_of
from patron.api.common import Limit, Offset, audit, page
from patron.api.schemas import Page, QuestionIn, QuestionOut
from patron.interact.questions import delete_question, question_bank, save_question

__all__ = ["router"]

router = APIRouter(prefix="/questions", tags=["questions"])

QuestionId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Its id.")
]


@router.get(
    "",
    operation_id="questions.list",
    response_model=Page[QuestionOut],
    summary="The question bank, in its order",
)
def list_questions(
    request: Request,
    caller: Annotated[Caller, allow("questions.list")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One page of the bank's questions."""
    with store_of(request).read() as conn:
        bank = question_bank(conn)
    chosen = bank.questions[offset : offset + limit + 1]
    return page([q.to_dict() for q in chosen], limit, offset)


@router.get(
    "/{question_id}",
    operation_id="questions.get",
    response_model=QuestionOut,
    summary="One question",
)
def get_question(
    request: Request, question_id: QuestionId, caller: Annotated[Caller, allow("questions.get")]
) -> dict[str, Any]:
    """A question's definition."""
    with store_of(request).read() as conn:
        return question_bank(conn).get(question_id).to_dict()


@router.put(
    "/{question_id}",
    operation_id="questions.put",
    response_model=QuestionOut,
    summary="Add a question or replace it",
    responses={201: {"model": QuestionOut, "description": "Added"}},
)
def put_question(
    request: Request,
    response: Response,
    question_id: QuestionId,
    body: QuestionIn,
    caller: Annotated[Caller, allow("questions.put")],
) -> dict[str, Any]:
    """Checked like a question bank file; 201 when added, 200 when replaced."""
    store = store_of(request)
    definition = body.model_dump(exclude_unset=True)
    question, new = save_question(store, question_id, definition, source=f"api key {caller.key_id}")
    audit(store, caller, target=question_id, detail={"added": new})
    response.status_code = 201 if new else 200
    return question.to_dict()


@router.delete(
    "/{question_id}",
    operation_id="questions.delete",
    status_code=204,
    summary="Remove a question (its answers are kept)",
)
def remove_question(
    request: Request,
    question_id: QuestionId,
    caller: Annotated[Caller, allow("questions.delete")],
) -> Response:
    """The facts it learned and its touch points stay."""
    store = store_of(request)
    delete_question(store, question_id)
    audit(store, caller, target=question_id)
    return Response(status_code=204)
