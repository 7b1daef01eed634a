"""The ``[segment]`` section: README's mapping block is the default, and bad mappings stop the
start with a sentence naming them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from infogap.server.config import SegmentSettings, load_settings
from infogap.server.core.errors import StartupError
from infogap.server.core.factory import build_core
from infogap.server.core.store import DATABASE_FILE

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_mapping_is_the_default(tmp_path: Path):
    block = re.search(r"```toml\n(\[segment\]\n.*?)```", README.read_text(), flags=re.DOTALL)
    assert block is not None
    config = tmp_path / "infogap.toml"
    config.write_text(block.group(1))
    assert load_settings(config).segment == SegmentSettings()


def test_a_mapping_to_an_unknown_event_type_stops_the_core(tmp_path: Path):
    settings = load_settings(
        data_dir=tmp_path, segment={"events": {"Song Played": {"type": "listen"}}}
    )
    with pytest.raises(StartupError, match="'Song Played' names event type 'listen'"):
        build_core(settings)
    assert not (tmp_path / DATABASE_FILE).exists()  # refused before the store was opened


def test_user_id_fields_are_checked():
    with pytest.raises(ValidationError):
        SegmentSettings(user_id_fields=["email"])
    with pytest.raises(ValidationError, match="repeat"):
        SegmentSettings(user_id_fields=["userId", "userId"])
