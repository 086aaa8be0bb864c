"""Unsaved provider settings between the console's "Test connection", "Setup" and "Save" steps.

Kept in memory only, bound to the session's token id, and dropped after 30 minutes, so the API token
typed into the form never has to be written back into a page.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from threatmatch.server.forms import ProviderForm

TTL_S = 30 * 60
MAX_DRAFTS = 1000


@dataclass
class Draft:
    owner: int
    form: ProviderForm
    token: str
    created: float


class Drafts:
    """Draft id -> settings being set up."""

    def __init__(self) -> None:
        self._drafts: dict[str, Draft] = {}
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for key in [k for k, d in self._drafts.items() if now - d.created > TTL_S]:
            del self._drafts[key]
        while len(self._drafts) >= MAX_DRAFTS:
            del self._drafts[next(iter(self._drafts))]

    def put(self, owner: int, form: ProviderForm, token: str, draft_id: str | None = None) -> str:
        """Store (or replace, when ``draft_id`` is the caller's) a draft; returns its id."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            current = self._drafts.get(draft_id or "")
            if draft_id is None or current is None or current.owner != owner:
                draft_id = secrets.token_urlsafe(18)
            self._drafts[draft_id] = Draft(owner, form, token, now)
            return draft_id

    def get(self, owner: int, draft_id: str | None) -> Draft | None:
        with self._lock:
            self._expire(time.monotonic())
            draft = self._drafts.get(draft_id or "")
            return draft if draft is not None and draft.owner == owner else None

    def discard(self, draft_id: str) -> None:
        with self._lock:
            self._drafts.pop(draft_id, None)
