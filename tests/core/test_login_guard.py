"""Login throttling and the bounded hash pool, on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from dfr.auth import BadCredentials, Role, User, UserDirectory, hash_password
from dfr.login_guard import LoginBusy, LoginGuard, LoginLimits, TooManyAttempts


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


USERS = UserDirectory([User("pat", Role.PILOT, hash_password("right"))])


async def test_an_account_is_throttled_after_its_failures_until_the_window_passes() -> None:
    clock = Clock()
    limits = LoginLimits(account_failures=3, address_failures=100, window_s=60.0)
    async with LoginGuard(USERS, limits, clock).running() as guard:
        for _ in range(3):
            with pytest.raises(BadCredentials):
                await guard.authenticate("pat", "wrong", "dispatch-desk")
        with pytest.raises(TooManyAttempts) as refused:
            await guard.authenticate("pat", "right", "dispatch-desk")  # not even checked
        assert refused.value.retry_after_s == pytest.approx(60.0)
        clock.now_s += 61.0
        assert (await guard.authenticate("pat", "right", "dispatch-desk")).name == "pat"


async def test_an_address_guessing_many_names_is_throttled() -> None:
    limits = LoginLimits(account_failures=100, address_failures=4, window_s=60.0)
    async with LoginGuard(USERS, limits, Clock()).running() as guard:
        for name in ("a", "b", "c", "d"):
            with pytest.raises(BadCredentials):
                await guard.authenticate(name, "x", "attacker")
        with pytest.raises(TooManyAttempts):
            await guard.authenticate("e", "x", "attacker")
        assert (await guard.authenticate("pat", "right", "rtcc-desk")).role is Role.PILOT


async def test_a_success_clears_the_account_but_not_the_address() -> None:
    limits = LoginLimits(account_failures=2, address_failures=3, window_s=60.0)
    async with LoginGuard(USERS, limits, Clock()).running() as guard:
        with pytest.raises(BadCredentials):
            await guard.authenticate("pat", "wrong", "desk")
        await guard.authenticate("pat", "right", "desk")
        with pytest.raises(BadCredentials):
            await guard.authenticate("pat", "wrong", "desk")
        with pytest.raises(BadCredentials):
            await guard.authenticate("pat", "wrong", "desk")
        with pytest.raises(TooManyAttempts):  # three failures from the desk now
            await guard.authenticate("pat", "right", "desk")


async def test_logins_beyond_what_the_pool_queues_are_refused_at_once() -> None:
    limits = LoginLimits(hash_workers=1, max_waiting=2)
    async with LoginGuard(USERS, limits).running() as guard:
        attempts = [guard.authenticate("pat", "wrong", f"a{i}") for i in range(8)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
    busy = [r for r in results if isinstance(r, LoginBusy)]
    checked = [r for r in results if isinstance(r, BadCredentials)]
    assert len(checked) == 3
    assert len(busy) == 5
    assert all(b.retry_after_s > 0 for b in busy)


async def test_unknown_users_fail_like_wrong_passwords() -> None:
    async with LoginGuard(USERS).running() as guard:
        with pytest.raises(BadCredentials, match="unknown user or wrong password"):
            await guard.authenticate("nobody", "right", "desk")


async def test_names_nobody_has_are_forgotten_once_their_window_passes() -> None:
    clock = Clock()
    limits = LoginLimits(account_failures=5, address_failures=1000, window_s=60.0, sweep_above=8)
    async with LoginGuard(USERS, limits, clock).running() as guard:
        for i in range(12):
            with pytest.raises(BadCredentials):
                await guard.authenticate(f"made-up-{i}", "x", "flood")
        assert guard.tracked_keys == 13  # every name (none expired yet) and the one address
        clock.now_s += 61.0
        with pytest.raises(BadCredentials):
            await guard.authenticate("one-more", "x", "flood")
        assert guard.tracked_keys == 2
