"""The built-in popularity model passes the model conformance kit."""

from __future__ import annotations

from infogap.plugins.popularity import PopularityConfig, PopularityTrainer
from infogap.server.plugin import FeatureSettings
from infogap.server.plugin.testing import ModelConformance


class TestPopularityConformance(ModelConformance):
    # The lists count every user: taking one out rightly changes what everyone is shown.
    forgetting_keeps_others = False

    def make_trainer(self) -> PopularityTrainer:
        # Segments of 5 users, so the kit's attribute values and "vip" get lists of their own.
        return PopularityTrainer(PopularityConfig(min_segment_users=5), FeatureSettings())
