"""The demo: the whole IDIC loop on a simulated shop whose truth is known.

The steps live in :mod:`patron.cli._demo_run`, imported when the command runs, so that the
CLI starts without the engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.cli._common import app


@app.command("demo")
def demo_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the demo's files.")] = Path(
        "patron-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", "-n")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="End by serving the console on the demo's store (Ctrl+C stops it)."
        ),
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8000,
) -> None:
    """The whole loop on a simulated shop: identify, value, needs, interact, customize, measure."""
    from patron.cli._demo_run import run_demo, serve_demo

    store_url = run_demo(directory, customers, seed)
    if serve:
        serve_demo(store_url, port)
