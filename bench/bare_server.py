"""The ceiling for Recommend: a bare gRPC server doing only the numpy scoring of a trained
LightFM model (item_vectors @ user_vector + item_biases, top-k, the response), on the arrays the
InfoGap server saved. No validation, seen-item filtering, fallback or reranking.

    python -m bench.bare_server --model-dir DATA/models/default/VERSION --port 50052
"""

from __future__ import annotations

import argparse
import logging
import signal
import uuid
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from threadpoolctl import threadpool_limits

from infogap.plugins.lightfm_hybrid import ARRAYS_FILE, STRATEGY
from infogap.server.core.models.lifecycle import ITEMS_FILE
from infogap.v1 import recommend_service_pb2, recommend_service_pb2_grpc

DEFAULT_COUNT = 10
REASON = "matches your activity"


@dataclass(frozen=True)
class ModelArrays:
    """What the bare server scores with, read from one of InfoGap's model versions."""

    version: str
    item_ids: list[str]
    user_ids: list[str]  # the users the model knows, row by row
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    item_biases: np.ndarray

    @classmethod
    def load(cls, version_dir: Path) -> ModelArrays:
        """``version_dir`` is ``<data dir>/models/<catalog>/<version>``."""
        with np.load(version_dir / STRATEGY / ARRAYS_FILE, allow_pickle=False) as arrays:
            return cls(
                version=version_dir.name,
                item_ids=np.load(version_dir / ITEMS_FILE, allow_pickle=False).tolist(),
                user_ids=arrays["user_ids"].tolist(),
                user_vectors=arrays["user_vectors"].astype(np.float32),
                item_vectors=arrays["item_vectors"].astype(np.float32),
                item_biases=arrays["item_biases"].astype(np.float32),
            )


class BareRecommendServicer(recommend_service_pb2_grpc.RecommendServiceServicer):
    def __init__(self, model: ModelArrays) -> None:
        self._version = model.version
        self._item_ids = model.item_ids
        self._user_rows = {user_id: row for row, user_id in enumerate(model.user_ids)}
        self._user_vectors = model.user_vectors
        self._item_vectors = model.item_vectors
        self._item_biases = model.item_biases

    def Recommend(
        self, request: recommend_service_pb2.RecommendRequest, context: grpc.ServicerContext
    ) -> recommend_service_pb2.RecommendResponse:
        row = self._user_rows.get(request.user_id)
        if row is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown user")
        count = request.count or DEFAULT_COUNT
        scores = self._item_vectors @ self._user_vectors[row] + self._item_biases
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best])]
        return recommend_service_pb2.RecommendResponse(
            recommendation_id=uuid.uuid4().hex,
            items=[
                recommend_service_pb2.ScoredItem(
                    item_id=self._item_ids[p], score=float(scores[p]), reason=REASON
                )
                for p in best.tolist()
            ],
            model_version=self._version,
            strategy=STRATEGY,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="models/<catalog>/<version>")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=8, help="gRPC worker threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    threadpool_limits(limits=1)  # as InfoGap: one BLAS thread, concurrency comes from requests

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    recommend_service_pb2_grpc.add_RecommendServiceServicer_to_server(
        BareRecommendServicer(ModelArrays.load(args.model_dir)), server
    )
    # Health only so that the benchmark can wait for it like for InfoGap; off the request path.
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=1.0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
