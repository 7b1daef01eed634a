"""The experiment report's HTML names the level its intervals are at."""

from __future__ import annotations

import numpy as np

from infogap.server.config import ExperimentSettings
from infogap.server.core.domain import ExperimentStatus
from infogap.server.core.experiments.report import build_report
from infogap.server.evaluation.experiment_report import render_experiment_html, status_name
from infogap.server.transport import convert
from tests.server.core.experiments.test_report import experiment, outcomes


def test_the_page_says_the_split_level_of_its_intervals():
    report = build_report(
        experiment(3), outcomes(np.random.default_rng(5), [0.1] * 3, 200), ExperimentSettings()
    )
    response = convert.experiment_report(report)
    assert response.confidence_level == report.confidence_level
    page = render_experiment_html(response)
    assert "97.5% confidence interval" in page
    assert "Brackets are 97.5% confidence intervals" in page
    assert "95%" not in page
    assert status_name(response.experiment) is ExperimentStatus.DRAFT
    assert f"status <b>{ExperimentStatus.DRAFT}</b>" in page
