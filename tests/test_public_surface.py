"""The public names of each package, and the layering rules of docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import patron.customize
import patron.data
import patron.identity
import patron.interact
import patron.measure
import patron.needs
import patron.report
import patron.store
import patron.value
import patron.value.models

SRC = Path(__file__).resolve().parents[1] / "src" / "patron"


@pytest.mark.parametrize(
    "module",
    [
        patron.data,
        patron.identity,
        patron.value,
        patron.value.models,
        patron.needs,
        patron.measure,
        patron.report,
        patron.store,
        patron.interact,
        patron.customize,
    ],
)
def test_all_names_exist(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), f"{module.__name__}.{name}"  # type: ignore[attr-defined]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_layers() -> None:
    faces = ("patron.cli", "patron.api", "patron.report")
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        mods = imports(path)
        domains = {
            "identity/": "patron.identity",
            "value/": "patron.value",
            "needs/": "patron.needs",
            "measure/": "patron.measure",
            "interact/": "patron.interact",
            "customize/": "patron.customize",
        }
        # IDIC order: customize may build on interact (consent, contact policy), never back.
        may_use = {"customize/": ("patron.interact",)}
        if rel.startswith(("data/", "store/", *domains)):
            assert not any(m.startswith(faces) for m in mods), f"{rel} imports a face"
        for folder, own in domains.items():
            if rel.startswith(folder):
                others = tuple(
                    d for d in domains.values() if d != own and d not in may_use.get(folder, ())
                )
                assert not any(m.startswith(others) for m in mods), f"{rel} imports {others}"
        if rel.startswith("data/"):
            assert not any(m.startswith("patron.value") for m in mods), f"{rel} imports value"
            assert not any(m.startswith("patron.store") for m in mods), f"{rel} imports store"
        if rel.startswith("store/"):  # the store sits beside the warehouse, below every domain
            assert not any(m.startswith(tuple(domains.values())) for m in mods), rel
        if rel.startswith("value/models/"):
            allowed = ("numpy", "scipy", "patron.errors", "patron.value.models", "patron")
            third = {
                m
                for m in mods
                if not m.startswith(
                    (
                        "__future__",
                        "typing",
                        "collections",
                        "dataclasses",
                        "functools",
                        "json",
                        "pathlib",
                        "math",
                    )
                )
            }
            assert all(m.startswith(allowed) for m in third), f"{rel}: {third}"
