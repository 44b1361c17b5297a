"""HTML reports: self-contained files (charts embedded, no network) built from the warehouse."""

from patron.report._render import Money, Section, check_out_path
from patron.report.customer_value import build_report, write_report
from patron.report.cva import write_cva_report
from patron.report.experiment import write_experiment_report

__all__ = [
    "Money",
    "Section",
    "build_report",
    "check_out_path",
    "write_cva_report",
    "write_experiment_report",
    "write_report",
]
