"""YAML text: one reading, errors naming where and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.customize.offers import load_offers
from patron.errors import DataError
from patron.interact.policy import read_contact_policy
from patron.yamltext import parse_yaml


def test_parse_yaml_names_where_and_the_line() -> None:
    assert parse_yaml("a: 1\nb: [2, 3]\n", "x") == {"a": 1, "b": [2, 3]}
    with pytest.raises(DataError, match=r"^the offer: not valid YAML at line 4 \("):
        parse_yaml("a: 1\nb: 2\nc: [unclosed\n", "the offer")  # found at the end, line 4
    with pytest.raises(DataError, match="not valid YAML"):
        parse_yaml("!!python/object:os.system {}", "x")  # the safe loader only


def test_every_yaml_reader_says_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {channel: email\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.yaml: not valid YAML at line \d"):
        read_contact_policy(bad)
    with pytest.raises(DataError, match=r"bad.yaml: not valid YAML at line \d"):
        load_offers(None, bad)  # type: ignore[arg-type]  # refused before the store is used
