"""Request validation: errors name the field and the reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from infogap.server.config import LimitSettings
from infogap.server.core import validation
from infogap.server.core.errors import InvalidArgument


def test_validation_names_field_and_reason():
    limits = LimitSettings()
    assert validation.catalog_name("") == "default"
    with pytest.raises(InvalidArgument) as caught:
        validation.catalog_name("../etc", "items[4].catalog")
    assert caught.value.violations[0].field == "items[4].catalog"
    with pytest.raises(InvalidArgument, match="1 to 1000"):
        validation.batch_size(0, "users", limits)
    with pytest.raises(InvalidArgument, match=r"users\[1\]"):
        validation.distinct(["a", "a"], "users")


def test_a_profile_moment_needs_room_for_its_windows():
    assert validation.as_of_time(datetime(2026, 3, 1), "as_of_time", [7, 90]) == datetime(
        2026, 3, 1
    )
    assert validation.as_of_time(datetime(1, 4, 1), "as_of_time", [90]) == datetime(1, 4, 1)
    with pytest.raises(InvalidArgument, match="on or after 0001-04-01") as caught:
        validation.as_of_time(datetime(1, 3, 31), "as_of_time", [7, 90])
    assert caught.value.violations[0].field == "as_of_time"
