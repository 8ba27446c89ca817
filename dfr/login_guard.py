"""Logins that cannot blind the server: password hashing off the event loop in a bounded
pool, the same work for unknown users as for known ones, and throttling per account and
per client address before any hashing is spent.

Errors (besides `dfr.auth.BadCredentials`)::

    LoginRefused
    ├── TooManyAttempts   too many failures for the account or the address (HTTP 429)
    └── LoginBusy         more logins waiting for the hash pool than it queues (HTTP 429)

Both carry `retry_after_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from dfr.auth import BadCredentials, User, UserDirectory, hash_password, verify_password

T = TypeVar("T")


class LoginRefused(Exception):
    """A login not even tried; `retry_after_s` says when to come back."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyAttempts(LoginRefused):
    pass


class LoginBusy(LoginRefused):
    pass


@dataclass(frozen=True, slots=True)
class LoginLimits:
    #: Failures an account may have in `window_s` before its logins are refused.
    account_failures: int = 5
    #: Failures one client address may have in `window_s` (many users share an RTCC).
    address_failures: int = 20
    window_s: float = 300.0
    #: Threads hashing passwords (scrypt takes ~50 ms of one core per check).
    hash_workers: int = 1
    #: Logins that may wait for a hash thread; more are refused at once.
    max_waiting: int = 8
    #: Accounts or addresses remembered before those whose window passed are swept out,
    #: so that a flood of made-up names cannot grow the server's memory without bound.
    sweep_above: int = 1024


class _Failures:
    """Failure times per key within a sliding window."""

    def __init__(
        self, limit: int, window_s: float, sweep_above: int, clock: Callable[[], float]
    ) -> None:
        self._limit = limit
        self._sweep_above = sweep_above
        self._window_s = window_s
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def retry_after_s(self, key: str) -> float:
        """0 when `key` may try; else seconds until its oldest counted failure expires."""
        times = self._recent(key)
        if times is None or len(times) < self._limit:
            return 0.0
        return max(0.0, times[0] + self._window_s - self._clock())

    def add(self, key: str) -> None:
        if len(self._times) > self._sweep_above:
            for stale in list(self._times):
                self._recent(stale)
        times = self._recent(key)
        if times is None:
            times = self._times[key] = deque()
        times.append(self._clock())

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)

    def _recent(self, key: str) -> deque[float] | None:
        """The key's failures still in the window (None, and forgotten, when none are)."""
        times = self._times.get(key)
        if times is None:
            return None
        horizon = self._clock() - self._window_s
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times


class LoginGuard:
    """Checks passwords for `users` without blocking the event loop."""

    def __init__(
        self,
        users: UserDirectory,
        limits: LoginLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self.limits = limits or LoginLimits()
        lim = self.limits
        self._accounts = _Failures(lim.account_failures, lim.window_s, lim.sweep_above, clock)
        self._addresses = _Failures(lim.address_failures, lim.window_s, lim.sweep_above, clock)
        self._pool: ThreadPoolExecutor | None = None
        self._slots = asyncio.Semaphore(self.limits.hash_workers + self.limits.max_waiting)
        self._decoy_hash: str | None = None

    def address_retry_after_s(self, address: str) -> float:
        """0 when `address` may try to log in; else seconds to wait (checked before a
        request body is even read)."""
        return self._addresses.retry_after_s(address)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoginGuard]:
        self._pool = ThreadPoolExecutor(self.limits.hash_workers, thread_name_prefix="login")
        try:
            # Unknown users are checked against this, so they cost what known ones do.
            self._decoy_hash = await self._in_pool(hash_password, "not a password")
            yield self
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def authenticate(self, name: str, password: str, address: str) -> User:
        """The user, if `password` is theirs. Raises BadCredentials or LoginRefused."""
        wait_s = self._throttled(name, address)
        if wait_s > 0:
            raise TooManyAttempts("too many failed logins: wait before trying again", wait_s)
        if self._slots.locked():
            raise LoginBusy("too many logins at once: try again in a moment", 1.0)
        user = self._users.get(name)
        stored = user.password_hash if user is not None else self._decoy_hash
        assert stored is not None, "LoginGuard.running() not entered"
        async with self._slots:
            ok = await self._in_pool(verify_password, password, stored)
        if user is None or not ok:
            self._accounts.add(name)
            self._addresses.add(address)
            raise BadCredentials("unknown user or wrong password")
        self._accounts.clear(name)
        return user

    @property
    def tracked_keys(self) -> int:
        """Accounts and addresses with failures remembered (for tests and health)."""
        return len(self._accounts) + len(self._addresses)

    def _throttled(self, name: str, address: str) -> float:
        """Seconds until `name` may try again from `address` (0: now)."""
        return max(self._accounts.retry_after_s(name), self._addresses.retry_after_s(address))

    async def _in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            raise RuntimeError("LoginGuard.running() not entered")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
