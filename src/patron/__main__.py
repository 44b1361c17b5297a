"""``python -m patron`` runs the CLI."""

from patron.cli import run

run()
