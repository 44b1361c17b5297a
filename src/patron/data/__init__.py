"""Identify: the warehouse, table contracts, loading and validation, the simulated shop.

The names below are imported on first use (PEP 562), so that a command reading the warehouse
does not pay for the loader and the simulators at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patron.data.contracts import CONTRACTS, Column, Contract, contract_for
    from patron.data.loader import FileReport, LoadOptions, LoadReport, Rejection, load
    from patron.data.plausible import Limits
    from patron.data.responses import Scale, load_responses
    from patron.data.simulate import ShopParams, SimulationResult, simulate_shop
    from patron.data.simulate_survey import SurveyParams, simulate_survey
    from patron.data.status import warehouse_status
    from patron.data.warehouse import Warehouse, connect

#: Where each public name lives.
_HOMES = {
    "CONTRACTS": "contracts",
    "Column": "contracts",
    "Contract": "contracts",
    "contract_for": "contracts",
    "FileReport": "loader",
    "LoadOptions": "loader",
    "LoadReport": "loader",
    "Rejection": "loader",
    "load": "loader",
    "Limits": "plausible",
    "Scale": "responses",
    "load_responses": "responses",
    "ShopParams": "simulate",
    "SimulationResult": "simulate",
    "simulate_shop": "simulate",
    "SurveyParams": "simulate_survey",
    "simulate_survey": "simulate_survey",
    "warehouse_status": "status",
    "Warehouse": "warehouse",
    "connect": "warehouse",
}

__all__ = [
    "CONTRACTS",
    "Column",
    "Contract",
    "FileReport",
    "Limits",
    "LoadOptions",
    "LoadReport",
    "Rejection",
    "Scale",
    "ShopParams",
    "SimulationResult",
    "SurveyParams",
    "Warehouse",
    "connect",
    "contract_for",
    "load",
    "load_responses",
    "simulate_shop",
    "simulate_survey",
    "warehouse_status",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'patron.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"patron.data.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
