"""The library guide's Python examples (docs/library.md) run as written, and do what they say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patron.value import load_model

README = Path(__file__).resolve().parents[1] / "docs" / "library.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(index: int, directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(directory)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(BLOCKS[index], f"README.md, Python example {index + 1}", "exec"), namespace)
    return namespace


def test_the_readme_has_the_two_library_examples() -> None:
    assert len(BLOCKS) == 2


def test_the_warehouse_example_scores_every_customer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = run_block(0, tmp_path, monkeypatch)
    wh = ns["wh"]
    try:
        assert int(wh.table("customer_value").count().to_pyarrow().as_py()) == 5_000
        assert ns["chosen"].reason  # says why the model was chosen
        assert ns["result"].equity_low < ns["result"].equity < ns["result"].equity_high
        assert list(ns["top"].clv) == sorted(ns["top"].clv, reverse=True)
    finally:
        wh.close()


def test_the_model_example_recovers_its_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = run_block(1, tmp_path, monkeypatch)
    model = ns["model"]
    truth = dict(zip(model.param_names, [0.25, 4.0, 0.8, 2.5], strict=True))
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 4 * model.standard_errors_[name], name
    assert np.all((ns["p_alive"] >= 0) & (ns["p_alive"] <= 1))
    again = load_model(tmp_path / "bgnbd.json")
    assert again.params_ == pytest.approx(model.params_)
