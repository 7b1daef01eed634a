"""The feature names and the sparse feature matrix that model plugins receive."""

from __future__ import annotations

from infogap.server.core.plugins.protocols import (
    FeatureMatrix,
    item_feature_names,
    user_feature_names,
)


def test_feature_names_and_matrix():
    assert user_feature_names({"b": "2", "a": "1"}, None) == ["a=1", "b=2"]
    assert user_feature_names({"b": "2", "a": "1"}, ["b", "zz"]) == ["b=2"]
    assert item_feature_names(["y", "x", "x"], {"k": "v"}, None) == ["tag=x", "tag=y", "k=v"]
    # A title is one value per item: it names the item in reasons, and is a feature only if asked.
    assert item_feature_names([], {"title": "Heat", "k": "v"}, None) == ["k=v"]
    assert item_feature_names([], {"title": "Heat", "k": "v"}, ["title"]) == ["title=Heat"]
    features = FeatureMatrix.from_rows([["a=1"], [], ["a=1", "b=2"]])
    assert features.names == ("a=1", "b=2")
    assert features.matrix.toarray().tolist() == [[1, 0], [0, 0], [1, 1]]


def test_implements_remembers_per_class_but_asks_wrappers_each_time():
    from infogap.server.core.plugins.capabilities import ItemVectorModel, implements
    from infogap.server.core.plugins.protocols import padded

    class NoVectors:
        strategy, parameters, metrics, user_count = "x", {}, {}, 0

    class Plain(NoVectors):
        def item_vectors(self, positions):
            return positions

    assert implements(Plain(), ItemVectorModel) and implements(Plain(), ItemVectorModel)
    assert not implements(NoVectors(), ItemVectorModel)
    # The same wrapper class has the capability only when what it wraps has it.
    assert not implements(padded(NoVectors(), 3, 1), ItemVectorModel)
    assert implements(padded(Plain(), 3, 1), ItemVectorModel)
