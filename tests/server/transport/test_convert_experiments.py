"""The one place experiments meet protobuf: variants and statuses both ways."""

from __future__ import annotations

from datetime import datetime

import pytest

from infogap.server.core.domain import Experiment, ExperimentStatus, Variant
from infogap.server.core.errors import InvalidArgument
from infogap.server.transport import convert
from infogap.v1 import admin_service_pb2


def test_a_variant_survives_the_round_trip_and_an_unset_blend_is_true():
    variant = Variant("b", 0.25, ("popularity", "lightfm"), False, "v3", ("diversity",))
    assert convert.variant_definition(convert.variant(variant)) == variant
    sent = admin_service_pb2.ExperimentVariant(name="a", share=0.5)
    assert convert.variant_definition(sent) == Variant("a", 0.5)


def test_every_status_has_its_number_and_back():
    for status in ExperimentStatus:
        experiment = Experiment(
            "e", "default", (Variant("a", 0.5),), status=status, created_at=datetime(2026, 1, 1)
        )
        number = convert.experiment(experiment).status
        assert admin_service_pb2.ExperimentStatus.Name(number) == f"EXPERIMENT_STATUS_{status.name}"
        assert convert.experiment_status(number) is status
    with pytest.raises(InvalidArgument):
        convert.experiment_status(admin_service_pb2.EXPERIMENT_STATUS_UNSPECIFIED)
