"""The conformance test kit for model plugins: run the host's expectations on your model.

Subclass ``ModelConformance`` in your plugin's tests, say how to build your trainer, and pytest
runs every check below on a small two-taste data set (or yours)::

    from infogap.server.plugin.testing import ModelConformance

    class TestMyModel(ModelConformance):
        folds_in = True  # score_user reads UserQuery.recent_item_positions

        def make_trainer(self):
            return MyTrainer(MyConfig(seed=1))

The checks: registered names and types; scores of float32 over the whole item index space;
unknown users (None or a valid score); determinism (the same data gives the same scores); a
save/load round trip giving the same scores, written as ``.npz``/``.npy``/``.json`` only with
no file that unpickles; forgetting a user (``ForgetfulModel``: the user is gone from the model
and its files, others keep their scores); new items (``ExtensibleModel``: the index space
grows); fold-in (when ``folds_in`` is set: recent items change the scores of a known and of an
unknown user); explanations (``ExplainingModel``: one list per item, at most ``limit``, strongest
first, each an item of the user's history or a feature). Checks of capabilities a model lacks
are skipped, saying why.

This module imports pytest; ``infogap.server.plugin`` itself does not.

.. versionadded:: 0.3
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from infogap.server.plugin import (
    ExplainingModel,
    ExtensibleModel,
    FeatureMatrix,
    ForgetfulModel,
    ModelTrainer,
    ScoreResult,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    item_feature_names,
    user_feature_names,
)

SAVED_SUFFIXES = (".npz", ".npy", ".json")
STRANGER = "kit-stranger"  # a user no data set of the kit contains
COLOURS = ("red", "blue")


@dataclass(frozen=True)
class ConformanceData:
    """A catalog's training data plus the CRM attributes of its users (and of strangers)."""

    training: TrainingData
    user_attributes: Mapping[str, Mapping[str, str]]

    def query(
        self, user_id: str, recent: Sequence[int] = (), history: Sequence[int] | None = None
    ) -> UserQuery:
        """The request of ``user_id`` having touched items ``recent`` (positions) since
        training; ``history`` is every item they touched (default: ``recent``)."""
        positions = np.asarray(recent, dtype=np.int64)
        touched = positions if history is None else np.asarray(history, dtype=np.int64)
        return UserQuery(
            user_id,
            lambda u: self.user_attributes.get(u, {}),
            lambda _: positions,
            load_history=lambda _: touched,
        )


def _colour_attributes(_: int, colour: str) -> Mapping[str, str]:
    return {"segment": colour}


def conformance_data(
    users: int = 40,
    items: int = 30,
    seed: int = 7,
    attributes: Callable[[int, str], Mapping[str, str]] = _colour_attributes,
) -> ConformanceData:
    """Two tastes: red users touch mostly red items, blue users blue ones.

    Items carry a colour tag and a ``shade`` attribute; the last two items have no events (a
    model must still score them). Every third user is in the named segment ``vip``. The
    stranger ``kit-stranger`` has attributes but no events.

    :param attributes: a user's attributes from their number and colour (default
        ``{"segment": colour}``), e.g. to add the attribute your model reads.
    """
    rng = np.random.default_rng(seed)
    user_ids = np.array([f"kit-user-{n:03d}" for n in range(users)], dtype=object)
    item_ids = np.array([f"kit-item-{n:03d}" for n in range(items)], dtype=object)
    item_colour = [COLOURS[n % 2] for n in range(items)]
    user_colour = [COLOURS[n % 2] for n in range(users)]
    active_items = items - 2
    rows, cols, weights = [], [], []
    for user, colour in enumerate(user_colour):
        liked = [i for i in range(active_items) if item_colour[i] == colour]
        other = [i for i in range(active_items) if item_colour[i] != colour]
        chosen = [*rng.choice(liked, 6, replace=False), *rng.choice(other, 1)]
        rows += [user] * len(chosen)
        cols += chosen
        weights += rng.choice([1.0, 2.0, 4.0], len(chosen)).tolist()
    interactions = sp.coo_matrix(
        (np.asarray(weights, np.float32), (rows, cols)), shape=(users, items)
    )
    user_attributes = {
        str(user_id): dict(attributes(n, user_colour[n])) for n, user_id in enumerate(user_ids)
    }
    user_attributes[STRANGER] = dict(attributes(users, "red"))
    item_rows = [
        item_feature_names([item_colour[n]], {"shade": ("light", "dark")[n % 3 == 0]}, None)
        for n in range(items)
    ]
    training = TrainingData(
        catalog="kit",
        user_ids=user_ids,
        item_ids=item_ids,
        interactions=interactions,
        user_features=FeatureMatrix.from_rows(
            [user_feature_names(user_attributes[str(u)], None) for u in user_ids]
        ),
        item_features=FeatureMatrix.from_rows(item_rows),
        event_count=len(weights),
        user_segments=FeatureMatrix.from_rows(
            [["vip"] if n % 3 == 0 else [] for n in range(users)]
        ),
    )
    return ConformanceData(training, user_attributes)


class _PickleFound(Exception):
    pass


class _NoGlobals(pickle.Unpickler):
    """Reads a pickle without ever importing or calling anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise _PickleFound(f"{module}.{name}")


def unpickles(data: bytes) -> bool:
    """Whether ``data`` is a pickle (checked without executing it)."""
    try:
        _NoGlobals(io.BytesIO(data)).load()
    except _PickleFound:
        return True
    except Exception:  # noqa: BLE001 - any other failure means the bytes are not a pickle
        return False
    return True


def saved_files(directory: Path) -> Iterator[Path]:
    return (path for path in sorted(directory.rglob("*")) if path.is_file())


def _read_without_pickle(path: Path) -> list[Any]:
    """The arrays (or the JSON document) of a saved file; reading an object array fails, as
    it would need unpickling."""
    if path.suffix == ".json":
        return [json.loads(path.read_text())]
    if path.suffix == ".npy":
        return [np.load(path, allow_pickle=False)]
    with np.load(path, allow_pickle=False) as arrays:
        return [arrays[name] for name in arrays.files]


def saved_strings(directory: Path) -> set[str]:
    """Every string a saved model holds: string array entries and JSON text."""
    found: set[str] = set()
    for path in saved_files(directory):
        if path.suffix == ".json":
            found.add(path.read_text())
            continue
        for array in _read_without_pickle(path):
            if array.dtype.kind in "US":
                found.update(str(value) for value in array.ravel())
    return found


def _check_result(result: ScoreResult | None, item_count: int, who: str) -> None:
    if result is None:
        return
    assert isinstance(result, ScoreResult), f"{who}: score_user returned {type(result)}"
    assert result.scores.shape == (item_count,), (
        f"{who}: {result.scores.shape} scores for {item_count} items"
    )
    assert result.scores.dtype == np.float32, f"{who}: scores are {result.scores.dtype}"
    assert np.isfinite(result.scores).all(), f"{who}: scores are not all finite"
    assert isinstance(result.reason, str) and result.reason, f"{who}: no reason given"


def _same_scores(first: TrainedModel, second: TrainedModel, data: ConformanceData) -> None:
    for user_id in [*data.training.user_ids.tolist(), STRANGER]:
        a, b = first.score_user(data.query(user_id)), second.score_user(data.query(user_id))
        assert (a is None) == (b is None), f"{user_id}: scored by one model only"
        if a is not None and b is not None:
            np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6, err_msg=user_id)


class ModelConformance:
    """Base class of a model plugin's conformance tests; subclass it as ``Test...``.

    Override ``make_trainer`` (required), ``make_data`` for a data set of your own, and set the
    class attributes that describe your model.
    """

    folds_in: ClassVar[bool] = False
    """Set True when ``score_user`` folds in ``UserQuery.recent_item_positions``."""
    forgetting_keeps_others: ClassVar[bool] = True
    """Set False when forgetting a user rightly changes others' scores (e.g. popularity counts
    that included the user)."""

    def make_trainer(self) -> ModelTrainer:
        """A new trainer of your model, seeded so that two trainings give the same model."""
        raise NotImplementedError("subclasses of ModelConformance return their trainer here")

    def make_data(self) -> ConformanceData:
        """The data set the checks train on (default: ``conformance_data()``)."""
        return conformance_data()

    def train(self, data: ConformanceData) -> TrainedModel:
        trainer = self.make_trainer()
        return trainer.train(data.training, TrainingContext(data.training.catalog, lambda a: a))

    # Trained once per test class; the fixtures build their own instance to ask.
    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> ConformanceData:
        return cls().make_data()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data: ConformanceData) -> TrainedModel:
        return cls().train(data)

    # -- the checks ---------------------------------------------------------------------------

    def test_trainer_and_model_follow_the_protocols(self, model: TrainedModel) -> None:
        trainer = self.make_trainer()
        assert isinstance(trainer, ModelTrainer), "the trainer lacks strategy, train or load"
        assert isinstance(model, TrainedModel), "the model lacks part of TrainedModel"
        assert model.strategy == trainer.strategy
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in model.parameters.items())
        assert all(isinstance(v, int | float) for v in model.metrics.values())
        assert isinstance(model.user_count, int)

    def test_scores_cover_the_index_space(self, model: TrainedModel, data: ConformanceData) -> None:
        item_count = len(data.training.item_ids)
        results = [model.score_user(data.query(u)) for u in data.training.user_ids.tolist()]
        for user_id, result in zip(data.training.user_ids.tolist(), results):
            _check_result(result, item_count, user_id)
        assert any(r is not None for r in results), "no user of the data set is scored"

    def test_unknown_users_get_none_or_a_valid_score(
        self, model: TrainedModel, data: ConformanceData
    ) -> None:
        item_count = len(data.training.item_ids)
        _check_result(model.score_user(data.query("kit-nobody")), item_count, "kit-nobody")
        _check_result(model.score_user(data.query(STRANGER)), item_count, STRANGER)

    def test_similar_items_cover_the_index_space(
        self, model: TrainedModel, data: ConformanceData
    ) -> None:
        similarities = model.similar_items(0)
        if similarities is not None:
            assert similarities.shape == (len(data.training.item_ids),)
            assert np.isfinite(similarities).all()

    def test_training_is_deterministic(self, model: TrainedModel, data: ConformanceData) -> None:
        _same_scores(model, self.train(data), data)

    def test_save_and_load_round_trip(
        self, model: TrainedModel, data: ConformanceData, tmp_path: Path
    ) -> None:
        directory = tmp_path / model.strategy
        directory.mkdir()
        model.save(directory)
        files = list(saved_files(directory))
        assert files, "save wrote nothing"
        for path in files:
            assert path.suffix in SAVED_SUFFIXES, f"{path.name}: save only .npz, .npy and .json"
            assert not unpickles(path.read_bytes()), f"{path.name} is a pickle"
            _read_without_pickle(path)
        loaded = self.make_trainer().load(directory, data.training.item_ids)
        assert loaded.strategy == model.strategy and loaded.user_count == model.user_count
        _same_scores(model, loaded, data)

    def test_forgetting_a_user(
        self, model: TrainedModel, data: ConformanceData, tmp_path: Path
    ) -> None:
        if not isinstance(model, ForgetfulModel):
            pytest.skip("not a ForgetfulModel: the host retrains after an erasure instead")
        users = data.training.user_ids.tolist()
        before = {u: model.score_user(data.query(u)) for u in users}
        gone = users[3]
        forgotten = model.without_user(gone)
        assert forgotten.user_count == model.user_count - 1, "user_count did not drop by one"
        after = model.score_user(data.query(gone))
        assert (after is None) == (before[gone] is None), "without_user changed the original"
        directory = tmp_path / "forgotten"
        directory.mkdir()
        forgotten.save(directory)
        assert not any(gone in text for text in saved_strings(directory)), (
            f"{gone} is still in the saved model"
        )
        for user_id in users:
            if user_id == gone:
                continue
            result = forgotten.score_user(data.query(user_id))
            assert (result is None) == (before[user_id] is None), f"{user_id} changed"
            _check_result(result, len(data.training.item_ids), user_id)
            earlier = before[user_id]
            if self.forgetting_keeps_others and result is not None and earlier is not None:
                np.testing.assert_allclose(result.scores, earlier.scores, rtol=1e-6)
        # Forgetting someone the model never saw changes nothing.
        assert model.without_user("kit-nobody").user_count == model.user_count

    def test_new_items_extend_the_index_space(
        self, model: TrainedModel, data: ConformanceData
    ) -> None:
        if not isinstance(model, ExtensibleModel):
            pytest.skip("not an ExtensibleModel: the host ranks new items last until retraining")
        item_count = len(data.training.item_ids)
        extended = model.with_new_items([["tag=red", "shade=dark"], []])
        for user_id in [*data.training.user_ids.tolist()[:5], STRANGER]:
            _check_result(extended.score_user(data.query(user_id)), item_count + 2, user_id)
            _check_result(model.score_user(data.query(user_id)), item_count, user_id)
        similarities = extended.similar_items(item_count)
        assert similarities is None or similarities.shape == (item_count + 2,)

    def test_fold_in_moves_scores(self, model: TrainedModel, data: ConformanceData) -> None:
        if not self.folds_in:
            pytest.skip("folds_in is not set: the model ignores recent items")
        # A red user (even number) who just touched blue items (odd positions).
        recent = [1, 3, 5, 7]
        for user_id in (data.training.user_ids[0], "kit-nobody"):
            plain = model.score_user(data.query(user_id))
            folded = model.score_user(data.query(user_id, recent))
            assert folded is not None, f"{user_id}: recent items gave no score"
            _check_result(folded, len(data.training.item_ids), user_id)
            assert plain is None or not np.allclose(plain.scores, folded.scores), (
                f"{user_id}: recent items did not change the scores"
            )

    def test_explanations_name_the_history_or_features(
        self, model: TrainedModel, data: ConformanceData
    ) -> None:
        if not isinstance(model, ExplainingModel):
            pytest.skip("not an ExplainingModel: items keep the ScoreResult's reason")
        interactions = sp.csr_matrix(data.training.interactions)
        user_id = str(data.training.user_ids[0])
        history = interactions[0].indices.astype(np.int64)
        cases = [(user_id, history), (STRANGER, np.empty(0, dtype=np.int64))]
        for who, touched in cases:
            query = data.query(who, history=touched)
            if model.score_user(query) is None:
                continue
            wanted = np.array([0, 1, 2], dtype=np.int64)
            explained = model.explain(query, wanted, 2)
            assert len(explained) == len(wanted), f"{who}: one list per item expected"
            for contributions in explained:
                assert len(contributions) <= 2, f"{who}: more than limit contributions"
                weights = [c.weight for c in contributions]
                assert weights == sorted(weights, reverse=True), f"{who}: not strongest first"
                for c in contributions:
                    assert np.isfinite(c.weight)
                    assert (c.item_position >= 0) != bool(c.feature), "item or feature, not both"
                    if c.item_position >= 0:
                        assert c.item_position in set(touched.tolist()), (
                            f"{who}: item {c.item_position} is not in the user's history"
                        )
