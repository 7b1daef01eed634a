"""Data-driven segments: k-means over users' interest profiles, recomputed with training."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2

from infogap.server.core.domain import ProfileFacts

MAX_FEATURES = 200  # the most common interest features; keeps the matrix small
DESCRIBED_FEATURES = 3


@dataclass(frozen=True)
class Clustering:
    clusters: list[tuple[str, str, int]]  # name, description, size
    members: dict[str, str]  # user id -> cluster name


def cluster_users(facts: Mapping[str, ProfileFacts], k: int, seed: int) -> Clustering:
    """Groups users with interests into at most ``k`` clusters, largest first, described by
    their centroid's strongest features."""
    users = [f for f in facts.values() if f.interests]
    if k == 0 or len(users) < k:
        return Clustering([], {})
    frequency = Counter(i.feature for f in users for i in f.interests)
    features = [name for name, _ in frequency.most_common(MAX_FEATURES)]
    column = {name: i for i, name in enumerate(features)}
    matrix = np.zeros((len(users), len(features)), dtype=np.float64)
    for row, user in enumerate(users):
        for interest in user.interests:
            if interest.feature in column and interest.score > 0:
                matrix[row, column[interest.feature]] = interest.score
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.maximum(norms, 1e-12)
    k = min(k, len(np.unique(matrix, axis=0)))  # no more clusters than distinct profiles
    centroids, labels = kmeans2(matrix, k, seed=seed, minit="++")
    sizes = np.bincount(labels, minlength=k)
    order = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    names = {int(c): f"cluster-{rank}" for rank, c in enumerate(order, start=1)}
    clusters = []
    for c in order:
        top = np.argsort(-centroids[c])[:DESCRIBED_FEATURES]
        description = ", ".join(f"{features[i]} ({centroids[c][i]:.2f})" for i in top)
        clusters.append((names[int(c)], f"strongest interests: {description}", int(sizes[c])))
    members = {user.user_id: names[int(label)] for user, label in zip(users, labels)}
    return Clustering(clusters, members)
