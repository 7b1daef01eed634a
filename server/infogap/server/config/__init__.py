"""Server settings: defaults here, overridden by a TOML file, overridden by environment variables.

Environment variables are named ``INFOGAP_<FIELD>`` with ``__`` between nested levels, e.g.
``INFOGAP_PORT=6000`` or ``INFOGAP_LIMITS__MAX_BATCH_SIZE=500``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Defined in their own module, part of this one's interface.
from infogap.server.config.artifacts import ArtifactSettings as ArtifactSettings
from infogap.server.config.experiments import ExperimentDefinition as ExperimentDefinition
from infogap.server.config.experiments import ExperimentSettings as ExperimentSettings
from infogap.server.config.experiments import VariantSettings as VariantSettings
from infogap.server.config.http import HttpSettings as HttpSettings
from infogap.server.config.segment import SegmentSettings as SegmentSettings
from infogap.server.config.server import ServerSettings as ServerSettings
from infogap.server.config.store import StoreSettings as StoreSettings
from infogap.server.config.telemetry import TelemetrySettings as TelemetrySettings

CONFIG_FILE_ENV = "INFOGAP_CONFIG"
FEATURE_KEYS = ("user_attributes", "item_attributes")


class EventTypeSettings(BaseModel):
    """How one event type counts as a training signal."""

    weight: float = Field(
        description="Signal strength; negative for dislikes, 0 for exposure only."
    )
    positive_from: float | None = Field(
        default=None,
        description="For star ratings: values below this are not positives; values at or above "
        "count weight * (value - positive_from + 1).",
    )
    marks_seen: bool = Field(
        default=True,
        description="Whether the item counts as already seen by the user (and is excluded from "
        "their recommendations).",
    )


def _default_event_types() -> dict[str, EventTypeSettings]:
    return {
        "view": EventTypeSettings(weight=1.0),
        "click": EventTypeSettings(weight=2.0),
        "add_to_cart": EventTypeSettings(weight=4.0),
        "purchase": EventTypeSettings(weight=8.0),
        "rating": EventTypeSettings(weight=1.0, positive_from=4.0),
        "dismiss": EventTypeSettings(weight=-2.0),
        "impression": EventTypeSettings(weight=0.0, marks_seen=False),
    }


class LimitSettings(BaseModel):
    """Input limits; requests beyond them get INVALID_ARGUMENT naming the limit."""

    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_id_length: int = Field(default=256, ge=8, le=4096)
    max_attributes: int = Field(default=64, ge=0)
    max_attribute_length: int = Field(default=1024, ge=1)
    max_tags: int = Field(default=64, ge=0)
    max_recommendations: int = Field(default=1000, ge=1)
    max_clock_skew_seconds: float = Field(
        default=300.0, ge=0, description="How far in the future an event time may be."
    )
    max_message_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)


class PluginSettings(BaseModel):
    """Which plugins take part."""

    autoload: bool = Field(
        default=True,
        description="Load third-party plugins from the 'infogap' entry-point group. Built-in "
        "plugins load regardless.",
    )
    disabled: list[str] = Field(default_factory=list, description="Plugin names not to load.")


class ServingSettings(BaseModel):
    """How recommendations are served."""

    strategy_order: list[str] = Field(
        default_factory=lambda: [
            "buy_again",
            "lightfm",
            "ease",
            "item_knn",
            "item_knn_bm25",
            "spark_als",
            "als",
            "popularity",
        ],
        description="Fallback order of model strategies: the first that can score a user answers. "
        "Strategies of plugins not named here are tried after these, in name order. The last "
        "one is the cold-start list that few-interaction users' lists are blended with, so "
        "popularity stays last. LightFM scores every user it knows or who has attributes or "
        "recent events, so the strategies after it answer only when it is disabled.",
    )
    default_count: int = Field(default=10, ge=1)
    blend_below_interactions: int | None = Field(
        default=5,
        ge=0,
        description="The fixed rule, served instead of the plan when serve_plan is false: users "
        "with fewer interactions get the first model's list interleaved with the cold-start one "
        "(half and half at 0, fully personalized at this count), the others the serving order; "
        "0 serves the serving order to everyone. None serves the plan.",
    )
    serve_plan: bool = Field(
        default=True,
        description="Serve the plan Train chooses per activity bucket, for trained and for new "
        "users (see [selection]); false serves the fixed rule of blend_below_interactions.",
    )
    rerank_depth_factor: int = Field(
        default=3, ge=1, description="Candidates handed to rerankers, as a multiple of count."
    )
    explanation_evidence: int = Field(
        default=3,
        ge=0,
        description="Evidence (own items or features) given per recommended item by models that "
        "explain themselves; the reason names the first two. 0 keeps the models' generic reasons.",
    )
    blas_threads: int = Field(
        default=1, ge=1, description="BLAS threads per process, so concurrent requests don't fight."
    )

    @property
    def rule_blend_below(self) -> int | None:
        """The fixed rule's threshold, or None when the plan serves (``serve_plan``, or
        ``blend_below_interactions`` set to None)."""
        return None if self.serve_plan else self.blend_below_interactions


class ProfileSettings(BaseModel):
    """How profiles are computed."""

    now: datetime | None = Field(
        default=None,
        description="The moment profiles are measured from when a request gives none; fix it "
        "for reproducible tests and back-fills. None means the server clock.",
    )
    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    frequency_window_days: int = Field(default=90, ge=1, description="RFM frequency window.")
    monetary_event_types: list[str] = Field(default_factory=lambda: ["purchase"])
    interest_half_life_days: float = Field(
        default=30.0,
        gt=0,
        description="An event's weight in interests halves every this many days.",
    )
    interest_attributes: list[str] | None = Field(
        default=None,
        description="Item attributes that count as interests; None: all. Tags always do.",
    )
    interest_top_n: int = Field(default=10, ge=0)
    max_batch_size: int = Field(default=500, ge=1)
    event_path_max_users: int = Field(
        default=64,
        ge=0,
        description="Profiles asked for up to this many users at once are computed from "
        "their events in one indexed read (a few ms); more, and segment sizes and clustering, "
        "by the store's aggregate queries over all events. 0: always the aggregate queries.",
    )
    clusters: int = Field(default=8, ge=0, description="Data-driven segments; 0 turns them off.")
    cluster_seed: int = 42
    cache_size: int = Field(default=10_000, ge=0, description="Profiles kept in memory.")
    cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a cached profile may be reused (new events for "
        "the user invalidate it at once).",
    )

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if not value or any(days < 1 for days in value):
            raise ValueError("windows_days must be positive day counts")
        return sorted(set(value))


class ApiKeySettings(BaseModel):
    """One API key: its SHA-256 (never the key itself) and what it may do."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    scopes: list[Literal["ingest", "read", "admin"]]


class AuthSettings(BaseModel):
    """Who may call the server, and over what."""

    keys: list[ApiKeySettings] = Field(
        default_factory=list,
        description="API keys (bearer tokens). With none configured, calls are not "
        "authenticated, which the server allows on loopback addresses only.",
    )
    insecure: bool = Field(
        default=False,
        description="Allow listening on a non-loopback address without API keys or TLS.",
    )
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = Field(
        default=None, description="Require client certificates signed by this CA (mutual TLS)."
    )
    requests_per_second_per_key: float | None = Field(
        default=None, gt=0, description="Calls beyond this rate get RESOURCE_EXHAUSTED."
    )
    burst: int = Field(default=50, ge=1, description="Calls a key may make at once above the rate.")

    @model_validator(mode="after")
    def _tls_complete(self) -> AuthSettings:
        # Caught when the config loads, not when the server binds.
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("auth.tls_cert_file and auth.tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("auth.tls_client_ca_file (mutual TLS) needs a server certificate")
        return self


class PrivacySettings(BaseModel):
    """Differential privacy for aggregates released to callers (the differential_privacy plugin)."""

    enabled: bool = False
    epsilon_per_window: float = Field(
        default=1.0, gt=0, description="Budget per catalog and window."
    )
    epsilon_per_release: float = Field(
        default=0.1, gt=0, description="Spent by each aggregate released (e.g. a popularity list)."
    )
    window_days: float = Field(default=30.0, gt=0)
    max_contributions_per_user: int = Field(
        default=10,
        ge=1,
        description="Items a user counts towards in one aggregate (the bound "
        "that makes the sensitivity, and so the epsilon, true).",
    )
    on_exhausted: Literal["reuse", "refuse"] = Field(
        default="reuse",
        description="When the window's budget is spent: reuse the last noisy release "
        "(post-processing costs nothing) or refuse with RESOURCE_EXHAUSTED.",
    )


class PseudonymSettings(BaseModel):
    """Keyed hashing of user ids at the server's edge."""

    enabled: bool = False
    secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 key; set it through INFOGAP_PSEUDONYMS__SECRET, not a file.",
        min_length=16,
    )

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> PseudonymSettings:
        if self.enabled and not self.secret:
            raise ValueError("pseudonyms.enabled needs a secret of 16+ characters")
        return self


class LifecycleSettings(BaseModel):
    """When models are retrained and when a new one may replace the serving one."""

    validation_fraction: float = Field(
        default=0.1,
        ge=0.0,
        lt=0.5,
        description="Share of each validation user's positive interactions held out, their "
        "latest by event time (at least one), to choose the serving plan and validate the new "
        "models against the serving ones (the new models are fitted on the rest). 0 turns "
        "validation off: every new model is promoted and served in the serving order.",
    )
    promotion_tolerance: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="A new model is promoted unless its validation NDCG@10 is below the serving "
        "model's by more than this fraction of it.",
    )
    refit_after_validation: bool = Field(
        default=True,
        description="Fit the strategies the plan serves again on all interactions after "
        "validation, so they learn from each user's latest ones and know the users held out "
        "whole: their fitting time twice, and every run promoted (the serving models saw the "
        "held-out interactions, so no fair comparison is left). Off, the validated models serve, "
        "without what was held out, until the next Train, and the promotion gate applies.",
    )
    model_time_budget_seconds: float | None = Field(
        default=60.0,
        gt=0,
        description="How long one strategy's fit may take. A trainer that foresees a longer "
        "fit skips the catalog, with the reason in the decision (EASE times a small inversion "
        "and scales it by the cube of the item count); LightFM stops before the epoch that "
        "would end past it (metric epochs_fitted); a strategy whose validated fit took longer "
        "is not fitted again after validation. None: no limit.",
    )
    max_validation_users: int = Field(default=2000, ge=10)
    validation_seed: int = 42
    retrain_interval_seconds: float | None = Field(
        default=None, gt=0, description="Retrain every catalog this often in the background."
    )
    retrain_after_events: int | None = Field(
        default=None,
        ge=1,
        description="Retrain a catalog in the background after this many new events.",
    )


class SelectionSettings(BaseModel):
    """How Train chooses what serves each user-activity bucket, on the validation split."""

    bucket_edges: list[int] = Field(
        default_factory=lambda: [1, 5, 20],
        description="Lower bounds of the activity buckets after 0: [1, 5, 20] makes 0, 1-4, "
        "5-19, 20+ interactions (kept in training; at serving, the items seen).",
    )
    min_bucket_users: int = Field(
        default=20, ge=1, description="Fewer validation users: the best choice over all users."
    )
    min_gain: float = Field(default=0.02, ge=0.0, description="Relative lead over baseline.")
    baseline: str = Field(
        default="popularity",
        description="The strategy no bucket may be served worse than; each model is also "
        "tried blended with it. Without it, the serving order's last strategy.",
    )
    blend_weights: list[float] = Field(
        default_factory=lambda: [0.25, 0.5, 0.75],
        description="The baseline's shares tried in blends (of rank-normalised scores).",
    )
    cold_validation_fraction: float = Field(
        default=0.2,
        ge=0.0,
        lt=0.5,
        description="Share of users (with 2+ positives) held out whole, at most half of "
        "max_validation_users: they come back with their earliest few interactions (a count in "
        "each bucket in turn) as new customers do, to choose the new-user buckets; left out of "
        "the validated models. 0: new users take the trained users' buckets.",
    )

    @model_validator(mode="after")
    def _valid(self) -> SelectionSettings:
        edges = self.bucket_edges
        if any(e < 1 for e in edges) or edges != sorted(set(edges)):
            raise ValueError("bucket_edges must be increasing positive interaction counts")
        if any(not 0.0 < weight < 1.0 for weight in self.blend_weights):
            raise ValueError("blend_weights must be between 0 and 1 (exclusive)")
        return self


class TrainingSettings(BaseModel):
    """How stored events become training signal, for every model."""

    time_decay_half_life_days: float | None = Field(
        default=None,
        gt=0,
        description="Halve an event's weight for every this many days it is older than the "
        "catalog's latest event; None keeps all events at full weight. Off by default: on "
        "MovieLens 100K with a random split it lowered NDCG@10 (see README).",
    )


class FeatureSettings(BaseModel):
    """Which attributes become model features (``key=value``): the feature selection every model
    plugin is handed. Item tags are always features."""

    user_attributes: list[str] | None = Field(
        default=None, description="User attributes used as features; None means all."
    )
    item_attributes: list[str] | None = Field(
        default=None, description="Item attributes used as features; None means all."
    )


class Settings(BaseSettings):
    """Everything the server can be told. See README, "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="INFOGAP_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default=Path("data"),
        description="Holds infogap.duckdb (unless store.url names another store) and models/.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535, description="0 picks a free port.")
    max_workers: int = Field(default=8, ge=1, description="gRPC worker threads.")
    http: HttpSettings = Field(default_factory=HttpSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    event_types: dict[str, EventTypeSettings] = Field(default_factory=_default_event_types)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    lightfm: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the built-in lightfm plugin, validated by it at start "
        "(infogap.plugins.lightfm_hybrid.LightFMConfig).",
    )
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    popularity: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the built-in popularity plugin, validated by it at start "
        "(infogap.plugins.popularity.PopularityConfig).",
    )
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    pseudonyms: PseudonymSettings = Field(default_factory=PseudonymSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    segment: SegmentSettings = Field(default_factory=SegmentSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    plugin_config: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Options of third-party plugins, by plugin name; each plugin validates its "
        "own at start (docs/plugins.md).",
    )

    @model_validator(mode="before")
    @classmethod
    def _features_under_lightfm(cls, values: Any) -> Any:
        """``lightfm.user_attributes`` and ``lightfm.item_attributes`` (the keys before
        ``[features]`` existed) still select the features, unless ``[features]`` names them."""
        if not isinstance(values, dict) or not isinstance(values.get("lightfm"), dict):
            return values
        lightfm = dict(values["lightfm"])
        moved = {key: lightfm.pop(key) for key in FEATURE_KEYS if key in lightfm}
        if not moved:
            return values
        features = values.get("features") or {}
        if isinstance(features, BaseModel):
            features = features.model_dump(exclude_unset=True)
        return {**values, "lightfm": lightfm, "features": {**moved, **features}}

    @property
    def seen_event_types(self) -> list[str]:
        """The event types that mark an item seen (``marks_seen``): left out of lists."""
        return [name for name, event_type in self.event_types.items() if event_type.marks_seen]

    @model_validator(mode="after")
    def _event_types_present(self) -> Settings:
        if not self.event_types:
            raise ValueError("event_types must name at least one event type")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence, highest first: explicit arguments, environment, TOML file (if any).
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config_file`` (or ``$INFOGAP_CONFIG``), the environment and ``overrides``.

    :raises FileNotFoundError: when the named config file does not exist.
    """
    path = config_file or os.environ.get(CONFIG_FILE_ENV)
    if not path:
        return Settings(**overrides)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    return FileSettings(**overrides)
