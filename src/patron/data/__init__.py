"""Identify: the warehouse, table contracts, loading and validation, the simulated shop."""

from patron.data.contracts import CONTRACTS, Column, Contract, contract_for
from patron.data.loader import FileReport, LoadOptions, LoadReport, Rejection, load
from patron.data.plausible import Limits
from patron.data.responses import Scale, load_responses
from patron.data.simulate import ShopParams, SimulationResult, simulate_shop
from patron.data.simulate_survey import SurveyParams, simulate_survey
from patron.data.status import warehouse_status
from patron.data.warehouse import Warehouse, connect

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
