"""Who may do what, right now: logins, session tokens and officers' share links, checked
on every request against the users file and the store, so that a removed user, a logged
out session, a revoked link or a closed call's link stops working at once.

Every login is audited with its outcome and the client's address; throttled logins and
denied requests (a bad token, a missing right) go through the `RefusalLog`, which keeps a
flood from filling the audit log.

Errors: `dfr.auth.BadCredentials` and `BadToken`, `dfr.login_guard.LoginRefused`, and the
store's `NotFound`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from dfr.auth import (
    NO_CALL,
    BadCredentials,
    BadToken,
    Principal,
    Role,
    TokenIssuer,
    User,
    UserDirectory,
    UsersFileError,
)
from dfr.login_guard import LoginGuard, LoginRefused
from dfr.refusal_log import RefusalLog
from dfr.store import DENIED, REFUSED, ShareLinkRecord, Store, refusal_reason

log = logging.getLogger(__name__)

USERS_FILE_CHECK_S = 1.0
UNKNOWN = "unknown"  # the actor of a denied request whose token names nobody


class Access:
    def __init__(
        self, users: UserDirectory, tokens: TokenIssuer, store: Store, refusals: RefusalLog
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._store = store
        self.refusals = refusals
        self.logins = LoginGuard(users)
        self._revoked: set[str] = set()
        self._users_checked_s = 0.0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Access]:
        self._revoked = await self._store.revoked_sessions()
        async with self.logins.running():
            yield self

    @property
    def share_link_ttl_s(self) -> float:
        return self._tokens.share_link_ttl_s

    async def login(self, username: str, password: str, address: str) -> tuple[str, User]:
        """A session token for the user; raises BadCredentials or LoginRefused (throttled,
        busy). Every outcome is audited with the client's address (throttled ones within
        the refusal log's bound: a flood of guesses must not flood the audit log)."""
        self._refresh_users()
        where = {"address": address}
        try:
            user = await self.logins.authenticate(username, password, address)
        except BadCredentials as exc:
            await self._store.audit(username, "login", "", where, REFUSED, refusal_reason(exc))
            raise
        except LoginRefused as exc:
            await self.login_throttled(address, username, refusal_reason(exc))
            raise
        await self._store.audit(user.name, "login", "", where)
        return self._tokens.session(user), user

    async def login_throttled(self, address: str, username: str, reason: str) -> None:
        """Audit a login refused with 429 (before its password was looked at)."""
        await self.refusals.record(address, username, "login", "", reason, REFUSED)

    async def denied(
        self, address: str, name: str | None, endpoint: str, reason: str, status: int
    ) -> None:
        """Audit a request refused for want of a valid token (401) or a right (403):
        who (when known), the endpoint ("GET /api/calls/7"), the address and the reason."""
        details = {"status": status}
        await self.refusals.record(
            address, name or UNKNOWN, "access.denied", endpoint, reason, DENIED, details
        )

    async def logout(self, who: Principal) -> None:
        """End the session `who` came with; its token is refused from now on."""
        async with self._store.attempt(who.name, "logout", audit_accepted=False):
            if who.share_link or who.token_id is None:
                raise BadToken("only a signed-in session can log out", who.name)
            self._revoked.add(who.token_id)
            await self._store.revoke_session(who.token_id, who.name)

    async def principal(self, token: str) -> Principal:
        """Who a token speaks for, now. Raises BadToken."""
        who = self._tokens.verify(token)
        if not who.share_link:
            self._refresh_users()
            user = self._users.get(who.name)
            if user is None or user.role != who.role:
                raise BadToken(
                    "this account no longer exists or has another role: log in again", who.name
                )
            if who.token_id in self._revoked:
                raise BadToken("logged out: log in again", who.name)
            who = replace(who, agencies=user.agencies, agency=user.agency)
            if who.role is Role.OFFICER:
                # An officer account sees the call of its latest "drone to me", no other.
                latest = await self._store.latest_call_requested_by(who.name)
                return replace(who, call_id=latest.id if latest is not None else NO_CALL)
            return who
        links = await self._store.share_links(link_id=who.token_id)
        if not links or links[0].revoked_at is not None:
            raise BadToken("this share link was revoked", who.name)
        if links[0].call_status == "closed":
            raise BadToken("the call of this share link is closed", who.name)
        return who

    async def share_call(self, call_id: int, who: Principal) -> tuple[str, str]:
        """A new share link for an officer: (its id, its token). Raises NotFound."""
        async with self._store.attempt(
            who.name, "call.share", f"call:{call_id}", audit_accepted=False
        ):
            link_id, token = self._tokens.share_link(call_id, who.name)
            await self._store.add_share_link(link_id, call_id, who.name)
        return link_id, token

    async def share_links(self, call_id: int) -> list[ShareLinkRecord]:
        return await self._store.share_links(call_id=call_id)

    async def revoke_share_link(self, link_id: str, who: Principal) -> ShareLinkRecord:
        """Raises NotFound."""
        subject = f"share_link:{link_id}"
        async with self._store.attempt(
            who.name, "share_link.revoke", subject, audit_accepted=False
        ):
            return await self._store.revoke_share_link(link_id, who.name)

    def agency_of(self, name: str) -> str | None:
        """The agency of the user `name` (None: none, or no such user)."""
        user = self._users.get(name)
        return user.agency if user is not None else None

    def _refresh_users(self) -> None:
        now_s = time.monotonic()
        if now_s - self._users_checked_s < USERS_FILE_CHECK_S:
            return
        self._users_checked_s = now_s
        try:
            self._users.refresh()
        except UsersFileError as exc:
            # Keep the users we have rather than lock everyone out over a typo.
            log.error("users file not reloaded: %s", exc)
