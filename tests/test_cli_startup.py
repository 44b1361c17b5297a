"""The command line starts light: ``--help`` loads no engine (issue 20, item 11).

Timing is a benchmark's business (benchmarks/RESULTS.md); these tests pin the cause instead:
which modules a start-up imports. Every CLI module imports the domain packages inside its
command functions, so a new module-level ``import ibis`` (or of a domain module that imports
it) fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: The modules that cost a start-up over a second together (measured with -X importtime).
HEAVY = (
    "alembic",
    "duckdb",
    "ibis",
    "numpy",
    "pandas",
    "plotly",
    "pyarrow",
    "pydantic_settings",
    "scipy",
    "sklearn",
    "splink",
    "sqlalchemy",
    "statsmodels",
)


def _loaded_after(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it leaves its result in ``result``."""
    script = (
        "import json, sys\n"
        f"{code}\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "sys.stderr.write('\\nRESULT ' + json.dumps({'result': result, 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    marker = done.stderr.rfind("RESULT ")
    assert marker >= 0, done.stderr
    parsed: dict[str, object] = json.loads(done.stderr[marker + len("RESULT ") :])
    return parsed


def test_importing_the_commands_loads_no_engine() -> None:
    found = _loaded_after("import patron.cli._app\nresult = None")
    assert found["heavy"] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["value", "--help"],
        ["value", "score", "--help"],
        ["identify", "run", "--help"],
        ["load", "--help"],
        ["experiment", "--help"],
        ["interact", "--help"],
    ],
)
def test_help_loads_no_engine(argv: list[str]) -> None:
    # Typer resolves every command's annotations to build the help: a type that is only
    # imported under TYPE_CHECKING would fail here, not only a heavy import.
    found = _loaded_after(f"from patron.cli._app import main\nresult = main({argv!r})")
    assert found == {"result": 0, "heavy": []}


def test_errors_import_without_engines() -> None:
    # The exit-code table maps these classes; the CLI and the API import them at start-up.
    found = _loaded_after(
        "from patron.cli._app import EXIT_CODES\n"
        "from patron.errors import DataError\n"
        "result = dict((c.__name__, n) for c, n in EXIT_CODES)['DataError']"
    )
    assert found == {"result": 65, "heavy": []}


def test_a_command_still_loads_what_it_needs() -> None:
    # The imports moved into the commands: a command that needs the engine gets it, and a
    # user error still maps to its exit code (2: a usage error) with one line.
    found = _loaded_after(
        "from patron.cli._app import main\n"
        "result = main(['value', 'score', '--model', 'nonsense', '--warehouse', "
        "'duckdb://:memory:'])"
    )
    assert found["result"] == 2


def test_written_out_defaults_agree_with_the_domain() -> None:
    # --help shows these defaults without importing the packages that define them.
    from patron.cli import data as cli_data
    from patron.cli import identify as cli_identify
    from patron.data.plausible import DEFAULT_EARLIEST, DEFAULT_MAX_ABS
    from patron.identity.probabilistic import DEFAULT_THRESHOLD

    assert cli_data.DEFAULT_MAX_ABS == DEFAULT_MAX_ABS
    assert cli_data.DEFAULT_EARLIEST == DEFAULT_EARLIEST
    assert cli_identify.DEFAULT_THRESHOLD == DEFAULT_THRESHOLD
