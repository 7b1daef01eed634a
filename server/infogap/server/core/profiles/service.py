"""Profiles: facts computed by the store, cached per user until their data changes, assembled by
the profile contributors; rule segments and data-driven clusters."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from infogap.server.config import Settings
from infogap.server.core.domain import (
    Behaviour,
    Profile,
    ProfileFacts,
    Segment,
    SegmentMembership,
    utc_now,
)
from infogap.server.core.errors import InvalidArgument, NotFound
from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.plugins.protocols import Aggregate, ProfileContributor, ProfileDraft
from infogap.server.core.profiles.clustering import cluster_users
from infogap.server.core.profiles.queries import compute_facts
from infogap.server.core.profiles.segments import SegmentRule, compile_rule
from infogap.server.core.store import Store
from infogap.server.core.validation import CATALOG_PATTERN, as_of_time

log = logging.getLogger(__name__)

RULE_KIND = "rule"
SEGMENTS_LEDGER = "profile-segments"  # the privacy ledger entry of segment sizes
SEGMENT_SIZE_KIND = "segment_size"
CLUSTER_KIND = "cluster"
CLUSTER_PREFIX = "cluster-"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class Profiles:
    """Serves profiles and segments for the core."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        contributors: Sequence[ProfileContributor],
        type_weights: pa.Table,
        release_aggregate: Callable[[Aggregate], Aggregate] = lambda aggregate: aggregate,
        metrics: CoreMetrics | None = None,
    ) -> None:
        """``metrics`` counts the profile cache's hits and misses."""
        self._store = store
        self._metrics = metrics or CoreMetrics()
        self._settings = settings
        self._profile_settings = settings.profiles
        self._contributors = tuple(contributors)
        self._type_weights = type_weights
        self._release_aggregate = release_aggregate
        self._lock = threading.Lock()
        # user id -> {requested as_of (None: "now") -> (facts, monotonic time computed)}
        self._cache: OrderedDict[str, dict[datetime | None, tuple[ProfileFacts, float]]] = (
            OrderedDict()
        )
        self._rules: dict[str, tuple[SegmentRule, str]] = {}
        # Bumped whenever data a profile reads changes (events, attributes, erasure, clusters):
        # rule segment members computed at one version are reused until the next.
        self._data_version = 0
        self._rule_members_cache: _RuleMembers | None = None
        for name, rule, description in store.segment_rules():
            try:
                self._rules[name] = (self._compile(rule), description)
            except InvalidArgument as error:  # e.g. a window removed from the config since
                log.warning("segment %s no longer compiles (%s); ignored", name, error.message)

    # -- facts -------------------------------------------------------------------------------

    def as_of(self, requested: datetime | None) -> datetime:
        """The moment a profile is measured from: ``requested``, else the configured or the
        current time. Raises ``InvalidArgument`` for a requested moment too early to have
        windows before it."""
        if requested is not None:
            windows = self._profile_settings.windows_days
            return as_of_time(requested, "as_of_time", windows)
        return self._profile_settings.now or utc_now()

    def invalidate(self, user_ids: Iterable[str]) -> None:
        """Drops cached profiles of users whose data changed, and the segment members
        computed before."""
        with self._lock:
            self._data_version += 1
            for user_id in user_ids:
                self._cache.pop(user_id, None)

    def users_written_elsewhere(self, user_ids: Sequence[str] | None) -> None:
        """``invalidate`` for users another replica of the shared store wrote (None: it wrote
        too many to name them, and every cached profile goes)."""
        if user_ids is not None:
            self.invalidate(user_ids)
            return
        with self._lock:
            self._data_version += 1
            self._cache.clear()

    def facts(self, user_ids: Sequence[str], requested: datetime | None) -> dict[str, ProfileFacts]:
        found: dict[str, ProfileFacts] = {}
        missing: list[str] = []
        now = time.monotonic()
        with self._lock:
            for user_id in user_ids:
                entry = self._cache.get(user_id, {}).get(requested)
                if entry and (
                    requested is not None or now - entry[1] < self._profile_settings.cache_seconds
                ):
                    found[user_id] = entry[0]
                    self._cache.move_to_end(user_id)
                else:
                    missing.append(user_id)
        self._metrics.profile_cache_hits.inc(len(found))
        self._metrics.profile_cache_misses.inc(len(missing))
        if missing:
            computed = self._compute(missing, self.as_of(requested))
            found.update(computed)
            self._remember(computed, requested, now)
        return found

    def _compute(self, user_ids: Sequence[str] | None, as_of: datetime) -> dict[str, ProfileFacts]:
        return compute_facts(
            self._store, as_of, user_ids, self._profile_settings, self._type_weights
        )

    def _remember(
        self, computed: dict[str, ProfileFacts], requested: datetime | None, now: float
    ) -> None:
        if self._profile_settings.cache_size == 0:
            return
        with self._lock:
            for user_id, facts in computed.items():
                self._cache.setdefault(user_id, {})[requested] = (facts, now)
                self._cache.move_to_end(user_id)
            while len(self._cache) > self._profile_settings.cache_size:
                self._cache.popitem(last=False)

    # -- profiles ----------------------------------------------------------------------------

    def profile(self, user_id: str, requested: datetime | None) -> Profile:
        facts = self.facts([user_id], requested).get(user_id)
        if facts is None:
            raise NotFound(f"user {user_id!r} has no attributes and no events")
        return self._assemble(facts)

    def profiles(
        self, user_ids: Sequence[str], requested: datetime | None
    ) -> tuple[list[Profile], list[str]]:
        facts = self.facts(user_ids, requested)
        profiles = [self._assemble(facts[u]) for u in user_ids if u in facts]
        return profiles, [u for u in user_ids if u not in facts]

    def _assemble(self, facts: ProfileFacts) -> Profile:
        draft = ProfileDraft(facts=facts, segments=lambda: self.memberships(facts))
        for contributor in self._contributors:
            contributor.contribute(draft)
        return Profile(
            user_id=facts.user_id,
            attributes=facts.attributes,
            attributes_updated=facts.attributes_updated,
            behaviour=draft.behaviour or Behaviour(),
            as_of=facts.as_of,
            interests=tuple(draft.interests),
            segments=tuple(draft.segment_memberships),
            extra=dict(draft.extra),
        )

    def memberships(self, facts: ProfileFacts) -> list[SegmentMembership]:
        rules = [
            SegmentMembership(name, RULE_KIND)
            for name, (rule, _) in sorted(self._rules.items())
            if rule.matches(facts)
        ]
        cluster = [SegmentMembership(facts.cluster, CLUSTER_KIND)] if facts.cluster else []
        return rules + cluster

    def segment_names_of(self, user_id: str) -> list[str]:
        """Names of the segments a user is in now (for serving; unknown users are in none)."""
        facts = self.facts([user_id], None).get(user_id)
        return [m.name for m in self.memberships(facts)] if facts else []

    def segment_members_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """Segment names per user, for training; empty when no segment exists."""
        if not self._rules and not self._store.clusters():
            return {}
        everyone = self._compute(None, self.as_of(None))
        wanted = set(user_ids)
        return {
            user_id: [m.name for m in self.memberships(facts)]
            for user_id, facts in everyone.items()
            if user_id in wanted
        }

    # -- segments ----------------------------------------------------------------------------

    def _compile(self, rule: str) -> SegmentRule:
        return compile_rule(rule, self._profile_settings.windows_days)

    def define_segment(self, name: str, rule: str, description: str) -> Segment:
        if not CATALOG_PATTERN.fullmatch(name):
            raise InvalidArgument("name", "must be 1 to 64 letters, digits, '_', '.' or '-'")
        if name.startswith(CLUSTER_PREFIX):
            raise InvalidArgument("name", f"names starting with {CLUSTER_PREFIX!r} are data-driven")
        compiled = self._compile(rule)
        self._store.define_segment(name, rule, description, utc_now())
        with self._lock:
            self._rules[name] = (compiled, description)
            self._rule_members_cache = None
        return next(s for s in self.list_segments() if s.name == name)

    def delete_segment(self, name: str) -> None:
        if not self._store.delete_segment(name):
            raise NotFound(f"no rule segment named {name!r}")
        with self._lock:
            self._rules.pop(name, None)
            self._rule_members_cache = None

    def list_segments(self) -> list[Segment]:
        """Every segment with its size; sizes mix many users, so they are released through the
        aggregate guards (noised when differential privacy is on)."""
        rule_members = self._rule_members()
        listed = [
            (name, RULE_KIND, rule.text, description, rule_members[name])
            for name, (rule, description) in sorted(self._rules.items())
            if name in rule_members
        ]
        listed += [
            (name, CLUSTER_KIND, "", description, self._store.cluster_members(name))
            for name, description, _ in self._store.clusters()
        ]
        sizes = self._released_sizes([entry[0] for entry in listed], [entry[4] for entry in listed])
        return [
            Segment(name, kind, rule, description, size)
            for (name, kind, rule, description, _), size in zip(listed, sizes)
        ]

    def _released_sizes(self, names: list[str], members: list[list[str]]) -> list[int]:
        if not names:
            return []
        users = sorted({user for segment in members for user in segment})
        row = {user: i for i, user in enumerate(users)}
        columns = np.repeat(np.arange(len(members)), [len(m) for m in members])
        rows = np.fromiter((row[u] for m in members for u in m), dtype=np.int64)
        contributions = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(users), len(names))
        )
        released = self._release_aggregate(
            Aggregate(
                catalog=SEGMENTS_LEDGER,
                kind=SEGMENT_SIZE_KIND,
                keys=np.array(names, dtype=object),
                contributions=contributions,
                values=np.array([len(m) for m in members], dtype=np.float64),
            )
        )
        return [round(float(value)) for value in released.values]

    def segment_members(self, name: str, page_size: int, page_token: str) -> tuple[list[str], str]:
        if page_size == 0:
            page_size = DEFAULT_PAGE_SIZE
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0: 100)")
        offset = _decode_page_token(page_token)
        if name in self._rules:
            members = self._rule_members().get(name, [])
        elif any(cluster == name for cluster, _, _ in self._store.clusters()):
            members = self._store.cluster_members(name)
        else:
            raise NotFound(f"no segment named {name!r}")
        page = members[offset : offset + page_size]
        more = offset + page_size < len(members)
        return page, _encode_page_token(offset + page_size) if more else ""

    def _rule_members(self) -> dict[str, list[str]]:
        """Rule segment name -> its members now, sorted. Computing them reads every user's
        facts, so they are reused while no data changes (``invalidate``), up to
        ``profiles.cache_seconds`` like a cached profile (windows move with the clock)."""
        now = time.monotonic()
        with self._lock:
            cached, version = self._rule_members_cache, self._data_version
            rules = dict(self._rules)
        if (
            cached is not None
            and cached.data_version == version
            and now - cached.computed_at < self._profile_settings.cache_seconds
        ):
            return cached.members
        everyone = self._compute(None, self.as_of(None))
        members = {
            name: sorted(user_id for user_id, facts in everyone.items() if rule.matches(facts))
            for name, (rule, _) in rules.items()
        }
        with self._lock:
            if self._data_version == version and self._rules == rules:
                self._rule_members_cache = _RuleMembers(version, now, members)
        return members

    def recompute_clusters(self) -> None:
        """Re-clusters every user on their interests (run after training)."""
        settings = self._profile_settings
        everyone = self._compute(None, self.as_of(None))
        clustering = cluster_users(everyone, settings.clusters, settings.cluster_seed)
        self._store.replace_clusters(clustering.clusters, clustering.members, utc_now())
        with self._lock:
            self._data_version += 1
            self._cache.clear()


@dataclass(frozen=True)
class _RuleMembers:
    """Rule segment members computed at one data version."""

    data_version: int
    computed_at: float  # time.monotonic()
    members: dict[str, list[str]]


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(value)
        if kind != "offset" or offset < 0:
            raise ValueError
        return offset
    except ValueError:
        raise InvalidArgument("page_token", "is not a token this server issued") from None
