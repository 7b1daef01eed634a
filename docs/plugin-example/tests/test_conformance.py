"""The example plugin's model passes InfoGap's model conformance kit.

Run with ``pytest tests`` from this folder, with ``infogap`` and this package installed.
"""

from __future__ import annotations

from infogap_plugin_example import FavouriteTagTrainer

from infogap.server.plugin.testing import ConformanceData, ModelConformance, conformance_data


def favourite_colour(number: int, colour: str) -> dict[str, str]:
    # Half the users name a favourite tag, so the model scores some and leaves the others.
    return {"segment": colour, **({"favourite_tag": colour} if number % 2 else {})}


class TestFavouriteTagConformance(ModelConformance):
    def make_trainer(self) -> FavouriteTagTrainer:
        return FavouriteTagTrainer()

    def make_data(self) -> ConformanceData:
        return conformance_data(attributes=favourite_colour)
