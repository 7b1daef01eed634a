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
            "lightfm",
            "ease",
            "item_knn",
            "item_knn_bm25",
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
    blend_below_interactions: int = Field(
        default=5,
        ge=0,
        description="Users with fewer interactions get the personalized list interleaved with "
        "the cold-start one (half and half at 0, fully personalized at this count); 0 disables.",
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
        description="Share of positive interactions held out to validate a new model against the "
        "serving one (the new model is fitted on the rest). 0 turns validation off: every new "
        "model is promoted.",
    )
    promotion_tolerance: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="A new model is promoted unless its validation NDCG@10 is below the serving "
        "model's by more than this fraction of it.",
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


class VariantSettings(BaseModel):
    """One arm of an experiment defined in the config file (or for ``infogap experiments
    create``): the TOML validation of the domain ``Variant``, into which
    ``core.experiments.definitions.variant_from_config`` turns it. The fields are the
    domain's, with the same defaults (a test holds them together)."""

    name: str
    share: float = Field(gt=0, le=1, description="Share of the users it gets.")
    strategies: list[str] = Field(
        default_factory=list,
        description='Serve only these strategies, in this order (e.g. ["popularity"]); empty: '
        "the catalog's serving order.",
    )
    blend: bool = Field(
        default=True, description="Interleave cold-start items for users with few interactions."
    )
    model_version: str = Field(
        default="", description="Serve this trained model version; empty: the current one."
    )
    excluded_rerankers: list[str] = Field(
        default_factory=list,
        description="Registered rerankers (by name) this variant does without, e.g. to measure "
        "what a reranking plugin is worth.",
    )


class ExperimentDefinition(BaseModel):
    """An experiment created at start if no experiment of that name exists yet; the domain
    ``Experiment`` comes from ``core.experiments.definitions.experiment_from_config``."""

    name: str
    catalog: str = "default"
    description: str = ""
    variants: list[VariantSettings] = Field(min_length=2, description="The first is the control.")
    attribution_window_hours: float | None = Field(
        default=None, gt=0, description="None: experiments.attribution_window_hours."
    )
    start: bool = Field(default=False, description="Start it right away (if still a draft).")


class ExperimentSettings(BaseModel):
    """Online experiments: attribution of feedback and the statistics of their reports."""

    attribution_window_hours: float = Field(
        default=24.0,
        gt=0,
        description="Feedback carrying a recommendation_id counts for the variant that served "
        "it if it happens within this long after the response.",
    )
    click_types: list[str] = Field(
        default_factory=lambda: ["click"],
        description="Event types that count as a click on a served item (CTR).",
    )
    conversion_types: list[str] = Field(
        default_factory=lambda: ["purchase"],
        description="Event types that count as a conversion; their values add up to revenue.",
    )
    primary_metric: Literal["ctr", "conversion_rate", "revenue_per_user"] = Field(
        default="ctr", description="The metric that decides the winner."
    )
    significance_level: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Two-sided, split (Bonferroni) over the variants compared with the control.",
    )
    sample_ratio_p_value: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="A chi-square p-value of users per variant below this flags a sample-ratio "
        "mismatch: the split is not what was configured, so the comparison cannot be trusted.",
    )
    impression_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Served lists are written in the background at least this often.",
    )
    definitions: list[ExperimentDefinition] = Field(default_factory=list)


class Settings(BaseSettings):
    """Everything the server can be told. See README, "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="INFOGAP_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(default=Path("data"), description="Holds infogap.duckdb and models/.")
    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535, description="0 picks a free port.")
    max_workers: int = Field(default=8, ge=1, description="gRPC worker threads.")
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
