"""The reports embed plotly.js's cartesian bundle, at the version plotly.py draws for."""

from __future__ import annotations

import re

from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

from patron.report._render import plotly_js


def test_the_vendored_bundle_matches_the_plotly_package() -> None:
    head = plotly_js()[:400]
    found = re.search(r"plotly\.js \(cartesian - minified\) v(\d+\.\d+\.\d+)", head)
    assert found is not None
    assert found.group(1) == get_plotlyjs_version()


def test_the_bundle_is_under_two_megabytes() -> None:
    assert len(plotly_js().encode()) < 2_000_000
