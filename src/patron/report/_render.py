"""What both reports share: sections, Plotly charts without a CDN, atomic HTML writing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from jinja2 import Environment, PackageLoader, select_autoescape

from patron import __version__
from patron.data.sources import check_output_file

__all__ = [
    "PLOTLY_BUNDLE",
    "Money",
    "Section",
    "chart",
    "check_out_path",
    "plotly_js",
    "render_page",
]

#: plotly.js's cartesian partial bundle (everything the reports draw), vendored in the package
#: at the version of the plotly.js that the locked plotly package bundles: 1.5 MB instead of
#: the full bundle's 4.9 MB in every report.
PLOTLY_BUNDLE = "plotly-cartesian.min.js"

PLOT_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


@dataclass(frozen=True)
class Money:
    """How reports write amounts: the currency (symbol or code) and the decimals.

    ``decimals=None`` keeps cents below 100 and whole units above (what a manager reads:
    "0.42", "12.50", "1,234"); an amount that rounds to zero is "0", never "-0".
    """

    currency: str = ""
    decimals: int | None = None

    def __call__(self, x: float | None) -> str:
        """``x`` as text ("-" when there is no finite amount)."""
        if x is None or not math.isfinite(x):
            return "-"
        places = self.decimals if self.decimals is not None else (2 if abs(x) < 100 else 0)
        text = f"{x:,.{places}f}"
        if not any(ch in "123456789" for ch in text):
            text = "0"
        if not self.currency:
            return text
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        sep = " " if len(self.currency) > 1 else ""  # "EUR 12.50", "£12.50"
        return f"{sign}{self.currency}{sep}{digits}"


@dataclass
class Section:
    """One part of a report: a title, a sentence of interpretation, an action, a chart."""

    title: str
    finding: str
    action: str = ""
    chart: str = ""
    table: list[list[str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)


def chart(fig: go.Figure, height: int = 360) -> str:
    """The figure as an HTML fragment drawn by the page's embedded plotly.js."""
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        template="plotly_white",
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG))


@cache
def plotly_js() -> str:
    """The vendored plotly.js bundle (read once per process)."""
    return files("patron.report").joinpath("assets", PLOTLY_BUNDLE).read_text(encoding="utf-8")


def check_out_path(path: Path) -> None:
    """Refuse a non-HTML name, a folder or a missing folder before any work."""
    check_output_file(path, (".html", ".htm"))


def render_page(template: str, path: Path, data: dict[str, Any]) -> Path:
    """Render ``template`` with ``data`` (plus plotly.js and a footer) into ``path``."""
    env = Environment(
        loader=PackageLoader("patron.report", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    page = env.get_template(template).render(
        **data,
        plotly_js=plotly_js(),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
