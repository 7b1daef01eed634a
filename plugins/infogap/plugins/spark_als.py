"""Implicit-feedback ALS fitted on Apache Spark MLlib (strategy ``spark_als``), served like ``als``.

For catalogs whose interactions outgrow one machine (see ``docs/spark.md``). Training writes the
interactions the ``als`` plugin fits on as a Parquet snapshot (user index, item index, weight)
into ``snapshot_dir``, the shared storage a cluster's executors read, and fits
``pyspark.ml.recommendation.ALS`` (``implicitPrefs=True``) on it. The factors come back to the
server and are saved in the ``als`` plugin's format, then served and folded in by its code
(``ALSModel``), with Spark's own per-user problem (``spark_objective``): confidence
``1 + alpha x weight`` and a ridge of λ per interaction (ALS-WR).

Off unless ``enabled``: a Spark session takes seconds to start. It starts at the first training
of the process, once (``getOrCreate``: the first configuration wins), and stops at exit.

Options: ``[plugin_config.spark_als]`` (``SparkALSConfig``); ``pyspark`` is the ``spark`` extra.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from infogap.plugins.als import ALSModel, ALSObjective, load_als_model
from infogap.plugins.histories import Histories, training_rows
from infogap.server.plugin import (
    FailedPrecondition,
    ModelSkipped,
    ModelTrainer,
    TrainingContext,
    TrainingData,
    Unavailable,
    hookimpl,
)

STRATEGY = "spark_als"
USER_COLUMN, ITEM_COLUMN, WEIGHT_COLUMN = "user", "item", "weight"
LOCAL_SHUFFLE_PARTITIONS = 4  # Spark's 200 only slow a single machine down
GATEWAY_START_SECONDS = 120.0
GATEWAY_PORT_ENV, GATEWAY_SECRET_ENV = "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET"
MEMORY_SIZE = re.compile(r"^\d+[kmgt]?$", re.IGNORECASE)  # Spark's own notation: 512m, 2g

log = logging.getLogger(__name__)


class SparkALSConfig(BaseModel):
    """Spark ALS: the ``[plugin_config.spark_als]`` section. Model defaults are the ``als``
    plugin's; the session options apply to the first session the process starts."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False, description="Register the strategy (off: Spark takes seconds to start)."
    )
    master: str = Field(
        default="local[*]",
        min_length=1,
        description="Spark master URL: local[N], spark://host:7077, yarn, k8s://...",
    )
    factors: int = Field(default=100, ge=1)
    iterations: int = Field(default=15, ge=1)
    regularization: float = Field(
        default=0.01, ge=0, description="λ per interaction of a user or item (Spark's ALS-WR)."
    )
    alpha: float = Field(default=1.0, gt=0, description="Confidence 1 + alpha x weight.")
    seed: int = Field(default=42, description="Fixed seed: two trainings agree.")
    blocks: int | None = Field(
        default=None, ge=1, description="User and item blocks (None: Spark's default parallelism)."
    )
    driver_memory: str = Field(default="1g", description="spark.driver.memory, e.g. 512m or 4g.")
    snapshot_dir: Path | None = Field(
        default=None,
        description="Where the Parquet snapshot is written (None: a temporary directory); on a "
        "cluster, a path every executor reads at the same place (a shared mount).",
    )
    spark_conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="More Spark settings, passed through as given."
    )

    @field_validator("driver_memory")
    @classmethod
    def _spark_memory_size(cls, value: str) -> str:
        if not MEMORY_SIZE.match(value):
            raise ValueError(f"{value!r} is not a Spark memory size such as 512m or 2g")
        return value


def spark_objective(config: SparkALSConfig) -> ALSObjective:
    """The per-user problem Spark's implicit ALS solves, which serving's fold-in solves again."""
    return ALSObjective(
        regularization=config.regularization,
        alpha=config.alpha,
        confidence_offset=1.0,
        regularization_per_interaction=True,
    )


class SparkSessions:
    """The process's one SparkSession, started on first use and stopped at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._gateway: subprocess.Popen[bytes] | None = None

    def get(self, config: SparkALSConfig) -> tuple[Any, float]:
        """The session and the seconds this call spent starting it (0 when it was running).

        :raises FailedPrecondition: when pyspark is missing or Spark (its JVM) cannot start.
        """
        with self._lock:
            if self._session is not None:
                return self._session, 0.0
            started = time.perf_counter()
            self._session, self._gateway = _start_session(config)
            atexit.register(self.stop)
            return self._session, time.perf_counter() - started

    def stop(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.stop()
                self._session = None
            if self._gateway is not None:
                _stop_gateway(self._gateway)
                self._gateway = None


def _session_options(config: SparkALSConfig) -> dict[str, str]:
    options = {
        "spark.master": config.master,
        "spark.app.name": "infogap-spark-als",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": config.driver_memory,
    }
    if config.master.startswith("local"):
        options["spark.sql.shuffle.partitions"] = str(LOCAL_SHUFFLE_PARTITIONS)
    for key, value in config.spark_conf.items():
        options[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return options


def _start_session(config: SparkALSConfig) -> tuple[Any, subprocess.Popen[bytes]]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as missing:
        raise FailedPrecondition(
            f"spark_als needs pyspark ({missing}): pip install 'infogap[spark]'"
        ) from None
    options = _session_options(config)
    try:
        gateway, port, secret = _launch_gateway(options)
    except (OSError, TimeoutError, RuntimeError) as error:
        log.warning("spark_als: the Spark JVM did not start", exc_info=True)
        raise FailedPrecondition(
            f"spark_als could not start Spark on master {config.master!r}: it needs Java 17 or "
            f"later on PATH (or JAVA_HOME) and pyspark installed: {_summary(error)}"
        ) from None
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    # pyspark connects to a running gateway named by these (how spark-submit hands it one).
    os.environ[GATEWAY_PORT_ENV], os.environ[GATEWAY_SECRET_ENV] = str(port), secret
    try:
        session = builder.getOrCreate()
    except Exception as error:  # py4j and pyspark raise many kinds; each means no Spark
        log.warning("spark_als: Spark did not start", exc_info=True)
        _stop_gateway(gateway)
        raise FailedPrecondition(
            f"spark_als could not start Spark on master {config.master!r}: {_summary(error)}"
        ) from None
    finally:
        os.environ.pop(GATEWAY_PORT_ENV, None)
        os.environ.pop(GATEWAY_SECRET_ENV, None)
    session.sparkContext.setLogLevel("ERROR")
    return session, gateway


def _launch_gateway(options: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, str]:
    """Starts Spark's driver JVM (``spark-submit pyspark-shell``) and reads the port and
    secret of its py4j gateway from the file it writes.

    pyspark would launch it itself, but through ``preexec_fn``, which runs Python in the
    forked child: in a gRPC server, grpc's at-fork handlers can then kill the child before
    it execs, now and then. ``start_new_session`` keeps Ctrl-C away from the JVM just as well,
    without Python in the child. The JVM exits when its stdin closes (``_stop_gateway``).

    :raises RuntimeError: when the JVM exits first (no Java, a bad option); OSError, when the
        launcher cannot run; TimeoutError, after ``GATEWAY_START_SECONDS``.
    """
    from pyspark.find_spark_home import _find_spark_home
    from pyspark.serializers import UTF8Deserializer, read_int

    command = [str(Path(_find_spark_home()) / "bin" / "spark-submit")]
    for key, value in options.items():
        command += ["--conf", f"{key}={value}"]
    command.append("pyspark-shell")
    with tempfile.TemporaryDirectory(prefix="spark-als-gateway-") as folder:
        info = Path(folder) / "gateway"
        env = {**os.environ, "_PYSPARK_DRIVER_CONN_INFO_PATH": str(info)}
        env["SPARK_CONNECT_MODE"] = "0"
        gateway = subprocess.Popen(command, stdin=subprocess.PIPE, env=env, start_new_session=True)
        deadline = time.monotonic() + GATEWAY_START_SECONDS
        while not info.exists():
            if gateway.poll() is not None:
                raise RuntimeError(f"the Spark JVM exited with status {gateway.returncode}")
            if time.monotonic() > deadline:
                _stop_gateway(gateway)
                raise TimeoutError(f"no Spark JVM gateway after {GATEWAY_START_SECONDS} s")
            time.sleep(0.1)
        with info.open("rb") as written:
            port = read_int(written)
            secret = UTF8Deserializer().loads(written)
    return gateway, port, secret


def _stop_gateway(gateway: subprocess.Popen[bytes]) -> None:
    if gateway.stdin is not None:
        gateway.stdin.close()  # the JVM's signal to exit
    try:
        gateway.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gateway.kill()
        gateway.wait()


def _summary(error: BaseException) -> str:
    """The first lines of an error, without the Java stack trace that follows them."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:2])[:500] or type(error).__name__


SESSIONS = SparkSessions()


def write_snapshot(rows: Any, directory: Path) -> Path:
    """The interactions (CSR, users x items) as one Parquet file of (user, item, weight) rows,
    what a cluster's executors read. Returns the file's path."""
    coo = rows.tocoo()
    table = pa.table(
        {
            USER_COLUMN: pa.array(coo.row.astype(np.int32)),
            ITEM_COLUMN: pa.array(coo.col.astype(np.int32)),
            WEIGHT_COLUMN: pa.array(coo.data.astype(np.float32)),
        }
    )
    path = directory / "interactions.parquet"
    pq.write_table(table, path)
    return path


def factors_in_index_order(frame: Any, count: int, factors: int) -> np.ndarray:
    """Spark's ``(id, features)`` factors as a ``count x factors`` array in index order; the
    ids Spark never saw (no interactions) keep zero vectors."""
    table = frame.toArrow()
    ids = table.column("id").to_numpy()
    features = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    placed = np.zeros((count, factors), dtype=np.float32)
    placed[ids] = features.reshape(len(ids), factors)
    return placed


class SparkALSTrainer:
    """Fits ALS on Spark; the model it returns is the ``als`` plugin's ``ALSModel``."""

    strategy = STRATEGY

    def __init__(self, config: SparkALSConfig, sessions: SparkSessions = SESSIONS) -> None:
        self._config = config
        self._sessions = sessions

    def train(self, data: TrainingData, context: TrainingContext) -> ALSModel:
        c = self._config
        rows = training_rows(data.interactions)
        if not rows.nnz:
            raise ModelSkipped("no interactions to fit")
        spark, start_seconds = self._sessions.get(c)
        try:
            if c.snapshot_dir is not None:
                c.snapshot_dir.mkdir(parents=True, exist_ok=True)
            snapshot = Path(tempfile.mkdtemp(prefix="spark-als-snapshot-", dir=c.snapshot_dir))
        except OSError as error:
            raise FailedPrecondition(
                f"spark_als cannot write its snapshot under {c.snapshot_dir}: {error}"
            ) from None
        try:
            started = time.perf_counter()
            path = write_snapshot(rows, snapshot)
            snapshot_seconds = time.perf_counter() - started
            started = time.perf_counter()
            user_factors, item_factors = self._fit(spark, path, rows.shape)
            fit_seconds = time.perf_counter() - started
        finally:
            shutil.rmtree(snapshot, ignore_errors=True)
        shown = {"master", "factors", "iterations", "regularization", "alpha", "seed", "blocks"}
        return ALSModel(
            user_factors=user_factors,
            item_factors=item_factors,
            histories=Histories(data.user_ids, rows),
            item_ids=data.item_ids,
            objective=spark_objective(c),
            parameters={key: str(value) for key, value in c.model_dump(include=shown).items()},
            metrics={
                "fit_seconds": fit_seconds,
                "snapshot_seconds": snapshot_seconds,
                "spark_start_seconds": start_seconds,
            },
            strategy=STRATEGY,
        )

    def _fit(self, spark: Any, path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """User and item factors of Spark's ALS on the snapshot at ``path``.

        :raises Unavailable: when Spark fails the job (a lost cluster, executors out of memory).
        """
        from pyspark.ml.recommendation import ALS

        c = self._config
        blocks = c.blocks or spark.sparkContext.defaultParallelism
        als = ALS(
            rank=c.factors,
            maxIter=c.iterations,
            regParam=c.regularization,
            alpha=c.alpha,
            implicitPrefs=True,
            seed=c.seed,
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            userCol=USER_COLUMN,
            itemCol=ITEM_COLUMN,
            ratingCol=WEIGHT_COLUMN,
        )
        try:
            fitted = als.fit(spark.read.parquet(path.as_uri()))
            users = factors_in_index_order(fitted.userFactors, shape[0], c.factors)
            items = factors_in_index_order(fitted.itemFactors, shape[1], c.factors)
        except Exception as error:  # a failed Spark job surfaces as one of py4j's errors
            log.warning("spark_als: the ALS job failed", exc_info=True)
            raise Unavailable(
                f"spark_als: Spark (master {c.master!r}) failed the ALS fit: {_summary(error)}"
            ) from None
        return users, items

    def load(self, directory: Path, item_ids: np.ndarray) -> ALSModel:
        """The saved model, read by the ``als`` plugin's code (no Spark needed to serve)."""
        return load_als_model(directory, item_ids, self.strategy)


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return SparkALSConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: SparkALSConfig
) -> None:
    if config.enabled:
        register(SparkALSTrainer(config))
