"""The settings of online experiments: definitions in the config file and their defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
