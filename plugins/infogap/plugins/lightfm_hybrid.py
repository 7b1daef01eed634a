"""Personalized strategy: a LightFM hybrid model (collaborative + content features).

Users are represented by an identity feature plus their CRM attributes (``key=value``); items by
an identity feature plus their tags and attributes. Serving never calls ``LightFM.predict``: the
user and item representations are extracted once after fitting, and a request is one
matrix-vector product in numpy. A user the model has not seen but whose attributes it knows is
scored from those attribute features alone; anyone else is left to the next strategy.

Options: the ``[lightfm]`` section of the server config (``LightFMConfig``); which attributes
are features comes from the server's ``[features]`` section.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM
from pydantic import BaseModel, ConfigDict, Field, field_validator

from infogap.server.plugin import (
    Contribution,
    FeatureMatrix,
    FeatureSettings,
    ModelTrainer,
    ScoreResult,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
    user_feature_names,
)

from .lightfm_fold_in import FoldInSettings, SoftmaxFoldIn

log = logging.getLogger(__name__)

STRATEGY = "lightfm"
# Interactions since training after which they count as much as the trained user vector.
FOLD_IN_FULL_WEIGHT_AT = 10
# Explanations compare a recommended item with at most this many of the user's latest items.
EXPLAINED_HISTORY = 500
ARRAYS_FILE = "lightfm.npz"
META_FILE = "meta.json"
LOSSES = ("warp", "bpr", "logistic", "warp-kos")


class LightFMConfig(BaseModel):
    """Hyper-parameters of the LightFM hybrid model: the ``[lightfm]`` section.

    The defaults are the best of ``infogap tune --trials 14`` on MovieLens 100K with user
    attributes and genres as features (NDCG@10 0.270 on a 20% validation split; the previous
    guess, 48 components at learning rate 0.05 for 30 epochs, scored 0.246).
    """

    model_config = ConfigDict(extra="forbid")

    no_components: int = Field(default=32, ge=1)
    loss: str = Field(default="warp", description="One of warp, bpr, logistic, warp-kos.")
    learning_rate: float = Field(default=0.1, gt=0)
    epochs: int = Field(default=50, ge=1)
    item_alpha: float = Field(default=1e-6, ge=0)
    user_alpha: float = Field(default=1e-5, ge=0)
    max_sampled: int = Field(default=10, ge=1)
    num_threads: int = Field(default=2, ge=1)
    random_state: int | None = Field(default=42, description="Fixed seed; None for a random one.")
    fold_in: Literal["softmax", "mean"] = Field(
        default="softmax",
        description="How events since training move a user's vector: 'softmax' fits the vector "
        "to them against the fixed item vectors (lightfm_fold_in.py); 'mean' is the former "
        "nudge towards the centred mean of their item vectors, kept for comparison.",
    )
    fold_in_regularisation: float = Field(
        default=1.0, gt=0, description="Pull of the starting vector (trained or attributes)."
    )
    fold_in_temperature: float = Field(
        default=4.0, gt=0, description="Softness of the fold-in's ranking objective."
    )
    fold_in_steps: int = Field(default=5, ge=1, description="Newton steps per fold-in.")
    fold_in_max_negatives: int = Field(
        default=4096, ge=1, description="Larger catalogues fold in over a fixed sample of items."
    )

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        if value not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}")
        return value


class LightFMModel:
    """Extracted representations of a fitted LightFM model; scoring is pure numpy."""

    strategy = STRATEGY
    explanation_lead = "liked by customers"  # "liked by customers aged 25-34"

    def __init__(
        self,
        *,
        user_ids: np.ndarray,
        user_vectors: np.ndarray,
        attribute_names: np.ndarray,
        attribute_vectors: np.ndarray,
        item_vectors: np.ndarray,
        item_biases: np.ndarray,
        item_feature_names: np.ndarray,
        item_feature_vectors: np.ndarray,
        item_feature_biases: np.ndarray,
        user_attributes: list[str] | None,
        parameters: Mapping[str, str],
        metrics: Mapping[str, float],
        fold_in: FoldInSettings | None = None,
    ) -> None:
        self._user_index = {user_id: row for row, user_id in enumerate(user_ids.tolist())}
        self._user_ids = user_ids
        self._user_vectors = user_vectors.astype(np.float32)
        self._attribute_index = {name: i for i, name in enumerate(attribute_names.tolist())}
        self._attribute_names = attribute_names
        self._attribute_vectors = attribute_vectors.astype(np.float32)
        self._item_vectors = item_vectors.astype(np.float32)
        self._item_biases = item_biases.astype(np.float32)
        norms = np.linalg.norm(self._item_vectors, axis=1, keepdims=True)
        self._item_unit_vectors = self._item_vectors / np.maximum(norms, 1e-12)
        self._mean_item_vector = self._item_vectors.mean(axis=0)
        user_norms = np.linalg.norm(self._user_vectors, axis=1)
        self._typical_user_norm = float(np.median(user_norms)) if len(user_norms) else 1.0
        self._item_feature_names = item_feature_names
        self._item_feature_vectors = item_feature_vectors.astype(np.float32)
        self._item_feature_biases = item_feature_biases.astype(np.float32)
        self._user_attributes = user_attributes
        self.parameters = parameters
        self.metrics = metrics
        self.user_count = len(user_ids)
        self._fold_in_settings = fold_in
        self._fitter = (
            None
            if fold_in is None
            else SoftmaxFoldIn(self._item_vectors, self._item_biases, fold_in)
        )

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        if self._fitter is not None:
            return self._score_fitted(user)
        recent = user.recent_item_positions
        row = self._user_index.get(user.user_id)
        if row is not None:
            vector = self._user_vectors[row]
            if len(recent):
                # What the user did since training nudges their learned taste.
                weight = min(1.0, len(recent) / FOLD_IN_FULL_WEIGHT_AT)
                vector = vector + weight * self._fold_in(recent)
            return ScoreResult(self._scores(vector), "matches your activity")
        from_attributes = self._vector_from_attributes(user.attributes)
        if not len(recent):
            if from_attributes is None:
                return None
            return ScoreResult(self._scores(from_attributes), "liked by customers like you")
        vector = self._fold_in(recent)
        if from_attributes is not None:
            vector = vector + from_attributes
        return ScoreResult(self._scores(vector), "based on what you just did")

    def _score_fitted(self, user: UserQuery) -> ScoreResult | None:
        """Scores with the user's vector fitted to what they did since training
        (``lightfm_fold_in``), starting from their trained or attribute vector."""
        assert self._fitter is not None
        recent = user.recent_item_positions
        row = self._user_index.get(user.user_id)
        if row is not None:
            start = self._user_vectors[row]
            if not len(recent):
                return ScoreResult(self._scores(start), "matches your activity")
            # The trained vector stands for the training history: refitting on that history
            # as well drowned the new events (NDCG@10 0.086 against 0.115 with the recent
            # items alone, for users whose 5 latest positives arrive after training).
            vector = self._fitter.fit(start, recent)
            return ScoreResult(self._scores(vector), "matches your activity")
        from_attributes = self._vector_from_attributes(user.attributes)
        if not len(recent):
            if from_attributes is None:
                return None
            return ScoreResult(self._scores(from_attributes), "liked by customers like you")
        if from_attributes is None:
            from_attributes = np.zeros(self._item_vectors.shape[1], dtype=np.float32)
        vector = self._fitter.fit(from_attributes, recent)
        return ScoreResult(self._scores(vector), "based on what you just did")

    def _fold_in(self, item_positions: np.ndarray) -> np.ndarray:
        """The former fold-in (``fold_in = "mean"``): the mean vector of the items touched,
        centred on the catalogue's mean and scaled like a trained user's vector."""
        direction = self._item_vectors[item_positions].mean(axis=0) - self._mean_item_vector
        norm = float(np.linalg.norm(direction))
        if norm < 1e-12:
            return np.zeros_like(direction)
        return direction * (self._typical_user_norm / norm)

    def item_vectors(self, item_positions: np.ndarray) -> np.ndarray:
        """The items' LightFM representations (``ItemVectorModel``, for diversity)."""
        return self._item_vectors[item_positions]

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """For a user with a history (trained or recent): their items whose vectors have the
        largest dot products with each recommended item's vector. Otherwise their attribute
        features by contribution to the item's score (feature vector . item vector / n)."""
        targets = self._item_vectors[item_positions]
        history = user.history_item_positions
        history = np.unique(history[-EXPLAINED_HISTORY:]) if len(history) else history
        if len(history):
            return _strongest(targets @ self._item_vectors[history].T, limit, items=history)
        names = user_feature_names(user.attributes, self._user_attributes)
        known = [n for n in names if n in self._attribute_index]
        if not known:
            return [[] for _ in item_positions]
        vectors = self._attribute_vectors[[self._attribute_index[n] for n in known]]
        return _strongest(targets @ vectors.T / len(known), limit, features=known)

    def _scores(self, user_vector: np.ndarray) -> np.ndarray:
        return self._item_vectors @ user_vector + self._item_biases

    def _vector_from_attributes(self, attributes: Mapping[str, str]) -> np.ndarray | None:
        names = user_feature_names(attributes, self._user_attributes)
        rows = [self._attribute_index[n] for n in names if n in self._attribute_index]
        if not rows:
            return None
        # Same normalisation as training rows: feature weights sum to one.
        return self._attribute_vectors[rows].mean(axis=0)

    def _with(self, **changes: Any) -> LightFMModel:
        """A new model with some arrays replaced and the rest shared (they are never mutated
        once the model serves)."""
        arrays = {
            "user_ids": self._user_ids,
            "user_vectors": self._user_vectors,
            "attribute_names": self._attribute_names,
            "attribute_vectors": self._attribute_vectors,
            "item_vectors": self._item_vectors,
            "item_biases": self._item_biases,
            "item_feature_names": self._item_feature_names,
            "item_feature_vectors": self._item_feature_vectors,
            "item_feature_biases": self._item_feature_biases,
            "user_attributes": self._user_attributes,
            "parameters": self.parameters,
            "metrics": self.metrics,
            "fold_in": self._fold_in_settings,
        }
        return LightFMModel(**{**arrays, **changes})

    def with_new_items(self, item_features: list[list[str]]) -> LightFMModel:
        """Represents items upserted after training by their features' embeddings."""
        vectors, biases = self.feature_representations(item_features)
        return self._with(
            item_vectors=np.vstack([self._item_vectors, vectors]),
            item_biases=np.concatenate([self._item_biases, biases]),
        )

    def without_user(self, user_id: str) -> LightFMModel:
        """The model without the user's vector and id (erasure)."""
        row = self._user_index.get(user_id)
        if row is None:
            return self
        keep = np.arange(len(self._user_ids)) != row
        return self._with(user_ids=self._user_ids[keep], user_vectors=self._user_vectors[keep])

    def replace_items(self, positions: np.ndarray, vectors: np.ndarray, biases: np.ndarray) -> None:
        """Overwrites some items' representations; only while the model is being built."""
        self._item_vectors[positions] = vectors
        self._item_biases[positions] = biases
        norms = np.linalg.norm(self._item_vectors, axis=1, keepdims=True)
        self._item_unit_vectors = self._item_vectors / np.maximum(norms, 1e-12)
        self._mean_item_vector = self._item_vectors.mean(axis=0)
        if self._fold_in_settings is not None:
            self._fitter = SoftmaxFoldIn(
                self._item_vectors, self._item_biases, self._fold_in_settings
            )

    def feature_representations(self, rows: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and biases of items known only by features: what LightFM computes for an
        item with identity and features (weights 1/(1+n) each) when the identity embedding is
        zero, as it is for an item never seen. Items with no known feature rank last."""
        index = {name: i for i, name in enumerate(self._item_feature_names.tolist())}
        vectors = np.zeros((len(rows), self._item_vectors.shape[1]), dtype=np.float32)
        lowest = float(self._item_biases.min()) - 1.0 if len(self._item_biases) else -1.0
        biases = np.full(len(rows), lowest, dtype=np.float32)
        for row, names in enumerate(rows):
            columns = [index[name] for name in names if name in index]
            if columns:
                # Not the mean: the untrained identity's share of the weight stays empty.
                weight = 1.0 / (1 + len(columns))
                vectors[row] = self._item_feature_vectors[columns].sum(axis=0) * weight
                biases[row] = self._item_feature_biases[columns].sum() * weight
        return vectors, biases

    def similar_items(self, item_index: int) -> np.ndarray:
        return self._item_unit_vectors @ self._item_unit_vectors[item_index]

    def save(self, directory: Path) -> None:
        np.savez(
            directory / ARRAYS_FILE,
            user_ids=self._user_ids.astype(str),
            user_vectors=self._user_vectors,
            attribute_names=self._attribute_names.astype(str),
            attribute_vectors=self._attribute_vectors,
            item_vectors=self._item_vectors,
            item_biases=self._item_biases,
            item_feature_names=self._item_feature_names.astype(str),
            item_feature_vectors=self._item_feature_vectors,
            item_feature_biases=self._item_feature_biases,
        )
        meta = {
            "parameters": dict(self.parameters),
            "metrics": dict(self.metrics),
            "user_attributes": self._user_attributes,
        }
        (directory / META_FILE).write_text(json.dumps(meta))


def _strongest(
    weights: np.ndarray,
    limit: int,
    items: np.ndarray | None = None,
    features: list[str] | None = None,
) -> list[list[Contribution]]:
    """Per row of ``weights`` (recommended items x evidence), the ``limit`` largest positive
    entries as contributions of ``items`` (positions) or ``features`` (names)."""
    explained: list[list[Contribution]] = []
    best = np.argsort(-weights, axis=1, kind="stable")[:, :limit]
    chosen = np.take_along_axis(weights, best, axis=1).tolist()
    names = items.tolist() if items is not None else features or []
    for columns, values in zip(best.tolist(), chosen):
        if items is not None:
            explained.append(
                [Contribution(v, item_position=names[c]) for c, v in zip(columns, values) if v > 0]
            )
        else:
            explained.append(
                [Contribution(v, feature=names[c]) for c, v in zip(columns, values) if v > 0]
            )
    return explained


def _with_identity(features: FeatureMatrix) -> sp.csr_matrix:
    """Identity columns first, then the named features; each row normalised to sum to one."""
    rows = features.matrix.shape[0]
    matrix = sp.hstack([sp.identity(rows, dtype=np.float32, format="csr"), features.matrix])
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / row_sums) @ matrix, dtype=np.float32)


def _fit_within(fit_epochs: Callable[..., LightFM], epochs: int, budget: float | None) -> int:
    """Runs ``epochs`` epochs of ``fit_epochs`` (``fit_partial`` on fixed data), fewer when
    the next one would end past ``budget`` seconds; returns how many ran (at least one)."""
    if budget is None:
        fit_epochs(epochs=epochs)
        return epochs
    started = time.perf_counter()
    for done in range(1, epochs + 1):
        fit_epochs(epochs=1)
        elapsed = time.perf_counter() - started
        if done < epochs and elapsed * (done + 1) / done > budget:
            log.warning(
                "LightFM stopped after %d of %d epochs: the %g s budget", done, epochs, budget
            )
            return done
    return epochs


class LightFMTrainer:
    """Fits ``LightFMModel``s with the given hyper-parameters and feature selection."""

    strategy = STRATEGY

    def __init__(self, config: LightFMConfig, features: FeatureSettings | None = None) -> None:
        self._settings = config
        self._user_attributes = (features or FeatureSettings()).user_attributes
        self._fold_in = (
            None
            if config.fold_in == "mean"
            else FoldInSettings(
                regularisation=config.fold_in_regularisation,
                temperature=config.fold_in_temperature,
                steps=config.fold_in_steps,
                max_negatives=config.fold_in_max_negatives,
            )
        )

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        s = self._settings
        fm = LightFM(
            no_components=s.no_components,
            loss=s.loss,
            learning_rate=s.learning_rate,
            item_alpha=s.item_alpha,
            user_alpha=s.user_alpha,
            max_sampled=s.max_sampled,
            random_state=s.random_state,
        )
        user_features = _with_identity(data.user_features)
        item_features = _with_identity(data.item_features)
        interactions = data.interactions.tocoo()
        positives = sp.coo_matrix(
            (np.ones_like(interactions.data), (interactions.row, interactions.col)),
            shape=interactions.shape,
        )
        started = time.perf_counter()
        epochs = _fit_within(
            partial(
                fm.fit_partial,
                positives,
                user_features=user_features,
                item_features=item_features,
                sample_weight=interactions,
                num_threads=s.num_threads,
            ),
            s.epochs,
            context.time_budget_seconds,
        )
        fit_seconds = time.perf_counter() - started
        _, user_vectors = fm.get_user_representations(user_features)
        item_biases, item_vectors = fm.get_item_representations(item_features)
        user_count = len(data.user_ids)
        item_count = len(data.item_ids)
        # Feature rows after the identity block: how items are represented from tags/attributes.
        feature_vectors = fm.item_embeddings[item_count:]
        feature_biases = fm.item_biases[item_count:]
        parameters = {key: str(value) for key, value in s.model_dump().items()}
        trained = LightFMModel(
            user_ids=data.user_ids,
            user_vectors=user_vectors,
            attribute_names=np.array(data.user_features.names, dtype=object),
            # Rows after the identity block are the attribute features' own embeddings.
            attribute_vectors=fm.user_embeddings[user_count:],
            item_vectors=item_vectors,
            item_biases=item_biases,
            item_feature_names=np.array(data.item_features.names, dtype=object),
            item_feature_vectors=feature_vectors,
            item_feature_biases=feature_biases,
            user_attributes=self._user_attributes,
            parameters=parameters,
            metrics={"fit_seconds": fit_seconds, "epochs_fitted": float(epochs)},
            fold_in=self._fold_in,
        )
        # An item without interactions has an untrained identity embedding (random noise), so
        # it is represented by its features alone, like an item added after training.
        untrained = np.flatnonzero(np.bincount(interactions.col, minlength=item_count) == 0)
        if len(untrained):
            names = data.item_features.names
            matrix = data.item_features.matrix
            rows = [
                [names[c] for c in matrix.indices[matrix.indptr[p] : matrix.indptr[p + 1]]]
                for p in untrained
            ]
            trained.replace_items(untrained, *trained.feature_representations(rows))
        return trained

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        meta = json.loads((directory / META_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            model = LightFMModel(
                user_ids=arrays["user_ids"].astype(object),
                user_vectors=arrays["user_vectors"],
                attribute_names=arrays["attribute_names"].astype(object),
                attribute_vectors=arrays["attribute_vectors"],
                item_vectors=arrays["item_vectors"],
                item_biases=arrays["item_biases"],
                item_feature_names=arrays["item_feature_names"].astype(object),
                item_feature_vectors=arrays["item_feature_vectors"],
                item_feature_biases=arrays["item_feature_biases"],
                user_attributes=meta["user_attributes"],
                parameters=meta["parameters"],
                metrics=meta["metrics"],
                fold_in=self._fold_in,
            )
        if model._item_vectors.shape[0] != len(item_ids):
            raise ValueError(f"{directory}: model has a different item count than its catalog")
        return model


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return LightFMConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: LightFMConfig, features: FeatureSettings
) -> None:
    register(LightFMTrainer(config, features))
