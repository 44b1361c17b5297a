"""HTML reports: self-contained files (charts embedded, no network) built from the warehouse."""

from patron.report.customer_value import Section, build_report, write_report

__all__ = ["Section", "build_report", "write_report"]
