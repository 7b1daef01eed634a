"""Pseudonymous user ids: replaced at the server's edge by a keyed hash (HMAC-SHA256), so the
database, the models and the logs never hold a raw CRM id. The same id always maps to the same
pseudonym, so lookups work; without the secret, a pseudonym cannot be linked back to its id
(unlike an unkeyed hash, which anyone can recompute from a list of candidate ids).

Trade-offs: ids the server returns on its own (segment members) are pseudonyms; anything
else echoes the caller's id. Rotating the secret orphans every stored user.
"""

from __future__ import annotations

import hashlib
import hmac

from infogap.server.config import LimitSettings, PseudonymSettings

PREFIX = "p:"  # marks a pseudonym, so a raw id can never collide with one


class Pseudonyms:
    """Maps raw user ids to pseudonyms, or leaves them alone when the feature is off."""

    def __init__(self, settings: PseudonymSettings, limits: LimitSettings) -> None:
        self.enabled = settings.enabled
        self._key = hmac.new((settings.secret or "").encode(), digestmod=hashlib.sha256)
        self._max_length = limits.max_id_length

    def of(self, user_id: str) -> str:
        # An invalid id is passed through unchanged, so validation still rejects it by name.
        if not self.enabled or not user_id or len(user_id) > self._max_length:
            return user_id
        if not user_id.isprintable():
            return user_id
        digest = self._key.copy()
        digest.update(user_id.encode())
        return PREFIX + digest.hexdigest()

    def of_all(self, user_ids: list[str]) -> list[str]:
        return [self.of(u) for u in user_ids] if self.enabled else user_ids
