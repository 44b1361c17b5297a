"""YAML text read the one way Patron reads it: the safe loader, errors naming the line.

Question banks, contact policies, offer catalogues, B2B weights and the console's forms are
YAML; a syntax error in any of them is a :class:`~patron.errors.DataError` that names where
the text came from, the line and the problem — never PyYAML's traceback.
"""

from __future__ import annotations

from typing import Any

import yaml

from patron.errors import DataError

__all__ = ["parse_yaml"]


def parse_yaml(text: str, where: str) -> Any:
    """``text`` parsed as YAML (safe loader).

    Parameters
    ----------
    text
        The YAML text.
    where
        Where it came from, for messages (a file path, "the offer").

    Raises
    ------
    DataError
        The text is not valid YAML: the message names ``where``, the line and the problem.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataError(f"{where}: not valid YAML{line} ({problem}).") from None
