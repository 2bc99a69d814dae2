"""Which documents a Slack user may read: the [[slack]] entries of RAG_KEYS_FILE, by user id or by Slack user group.

A user no entry names reads the documents everyone may read, and nothing else. A user group's members are asked
of Slack (usergroups.users.list, scope `usergroups:read`) and kept for MEMBERS_TTL seconds; when Slack cannot say,
the group counts as empty until the next try: a failure never grants more.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from api.keys import SlackEntry
from rag.access import EVERYONE, Reader

log = logging.getLogger("api.slack")
MEMBERS_TTL = 300.0  # seconds: someone added to (or removed from) a user group is seen within this


class SlackReaders:
    def __init__(self, entries: tuple[SlackEntry, ...], client: WebClient, ttl: float = MEMBERS_TTL) -> None:
        self.entries = entries
        self.client = client
        self.ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def reader(self, user_id: str) -> Reader:
        """The reader a Slack user's question acts for; never an admin, never one who reads all."""
        groups: set[str] = {EVERYONE}
        if user_id:
            for entry in self.entries:
                if entry.user == user_id or (entry.usergroup and user_id in self.members(entry.usergroup)):
                    groups.update(entry.groups)
        return Reader(f"slack:{user_id or 'unknown'}", frozenset(groups))

    def members(self, usergroup: str) -> frozenset[str]:
        """The user ids in a Slack user group, from Slack at most once per `ttl`."""
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(usergroup)
            if cached is not None and now - cached[0] < self.ttl:
                return cached[1]
        members: frozenset[str] = frozenset()
        try:
            resp = self.client.usergroups_users_list(usergroup=usergroup)
            members = frozenset(str(u) for u in resp.get("users") or [])
        except SlackApiError as e:
            log.warning(
                "Slack user group %s: usergroups.users.list failed (%s); its members read public documents only "
                "until it answers (the app needs the usergroups:read scope)",
                usergroup,
                e.response.get("error", "unknown_error"),
            )
        except Exception as e:  # network errors: Slack unreachable, timeouts
            log.warning("Slack user group %s: usergroups.users.list failed: %s: %s", usergroup, type(e).__name__, e)
        with self._lock:
            self._members[usergroup] = (now, members)
        return members
