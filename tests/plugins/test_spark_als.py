"""The Spark ALS plugin on a real local Spark: it passes the model conformance kit, its
factors serve through the ``als`` plugin's code (same scores for the same factors), its
fold-in solves Spark's own per-user problem, and a Spark that cannot start says why.

Every test of the session shares the process's one SparkSession (``spark_als.SESSIONS``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from infogap.plugins import spark_als
from infogap.plugins.als import ALSConfig, ALSTrainer
from infogap.plugins.spark_als import SparkALSConfig, SparkALSTrainer
from infogap.server.plugin import FailedPrecondition, ModelSkipped, TrainingContext
from infogap.server.plugin.testing import ConformanceData, ModelConformance, conformance_data

pytestmark = pytest.mark.slow  # a JVM start and a dozen small fits: about a minute

REPO = Path(__file__).resolve().parents[2]
# Small and on two local cores: a fit of the kit's 40 users takes about a second once warm.
SMALL = {"enabled": True, "master": "local[2]", "factors": 8, "iterations": 8, "blocks": 2}


def small_trainer(**options) -> SparkALSTrainer:
    return SparkALSTrainer(SparkALSConfig(**{**SMALL, **options}))


class TestSparkALSConformance(ModelConformance):
    folds_in = True  # the als plugin's least-squares fold-in, with Spark's objective

    def make_trainer(self) -> SparkALSTrainer:
        return small_trainer()


@pytest.fixture(scope="module")
def kit() -> ConformanceData:
    return conformance_data()


@pytest.fixture(scope="module")
def spark_model(kit: ConformanceData):
    return small_trainer().train(kit.training, TrainingContext("kit", lambda a: a))


def test_the_als_plugin_serves_spark_factors_with_the_same_scores(spark_model, kit, tmp_path):
    """Saved by spark_als, loaded by the als plugin's own trainer: the same files, the same
    scores for known users, users with recent items (fold-in) and newcomers."""
    spark_model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "factors.npz",
        "histories.npz",
        "history_users.npy",
        "meta.json",
    ]
    served_by_als = ALSTrainer(ALSConfig()).load(tmp_path, kit.training.item_ids)
    assert served_by_als.objective == spark_model.objective
    queries = [
        kit.query("kit-user-000"),
        kit.query("kit-user-000", recent=[1, 3, 5]),
        kit.query("kit-newcomer", recent=[2, 4]),
    ]
    for query in queries:
        expected = spark_model.score_user(query)
        np.testing.assert_allclose(served_by_als.score_user(query).scores, expected.scores)


def test_fold_in_of_a_users_training_row_gives_back_their_spark_vector(spark_model, kit):
    """Spark's last half-iteration solves each user against the final item factors: folding
    the same row in with the same objective must land on the vector Spark trained."""
    rows = kit.training.interactions.tocsr()
    items = spark_model.item_vectors(np.arange(len(kit.training.item_ids)))
    for row in (0, 1, 7, 22):
        start, end = rows.indptr[row], rows.indptr[row + 1]
        positions, weights = rows.indices[start:end].astype(np.int64), rows.data[start:end]
        trained = spark_model.score_user(kit.query(kit.training.user_ids[row])).scores
        folded = items @ spark_model.fold_in(positions, weights)
        np.testing.assert_allclose(folded, trained, rtol=1e-3, atol=1e-4)


def test_items_spark_never_saw_get_zero_vectors(spark_model, kit):
    unseen = np.array([len(kit.training.item_ids) - 2, len(kit.training.item_ids) - 1])
    assert not spark_model.item_vectors(unseen).any()
    assert spark_model.item_vectors(np.array([0, 1])).any()


def test_the_plugin_registers_nothing_unless_enabled():
    registered: list = []
    spark_als.infogap_register_models(registered.append, SparkALSConfig())
    assert registered == []
    spark_als.infogap_register_models(registered.append, SparkALSConfig(enabled=True))
    assert [trainer.strategy for trainer in registered] == ["spark_als"]


@pytest.mark.parametrize(
    "options",
    [{"driver_memory": "lots"}, {"factors": 0}, {"master": ""}, {"executors": 4}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValidationError):
        SparkALSConfig(**options)


def test_a_spark_that_cannot_start_names_java_and_pyspark(tmp_path):
    """Without Java, the session's start fails with a FailedPrecondition saying what is
    needed (run in a child process: this one's SparkSession is already running)."""
    script = (
        "from infogap.plugins.spark_als import SparkALSConfig, SparkSessions\n"
        "from infogap.server.plugin import FailedPrecondition\n"
        "try:\n"
        "    SparkSessions().get(SparkALSConfig(master='local[1]'))\n"
        "except FailedPrecondition as error:\n"
        "    print('refused:', error)\n"
    )
    no_java = tmp_path / "no-java"
    no_java.mkdir()
    env = {
        **os.environ,
        "JAVA_HOME": str(no_java),
        "PATH": str(Path(sys.executable).parent),  # the venv's python, no java
        "PYTHONPATH": os.pathsep.join(
            str(REPO / p) for p in ("server", "plugins", "client_sdk/src")
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "refused: spark_als could not start Spark on master 'local[1]'" in result.stdout
    assert "Java 17" in result.stdout and "pyspark" in result.stdout


def test_a_catalog_without_interactions_is_skipped_before_spark_starts(kit):
    empty = replace(kit.training, interactions=sp.coo_matrix(kit.training.interactions.shape))
    with pytest.raises(ModelSkipped, match="no interactions"):
        small_trainer().train(empty, TrainingContext("kit", lambda a: a))


def test_a_snapshot_dir_that_cannot_be_made_is_a_failed_precondition(kit, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    trainer = small_trainer(snapshot_dir=blocked / "snapshots")
    with pytest.raises(FailedPrecondition, match="cannot write its snapshot under"):
        trainer.train(kit.training, TrainingContext("kit", lambda a: a))
