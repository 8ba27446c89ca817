"""Session tokens and officers' share links: accepted within their time to live, refused
after it with the reason, and never taken for one another or for another key's."""

from __future__ import annotations

import pytest

from dfr.auth import BadToken, Role, TokenIssuer, User

NOW_S = 1_800_000_000.0
DISP = User(name="disp", role=Role.DISPATCHER, password_hash="x")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The wall clock the tokens are signed and checked at (whole seconds, as signed)."""
    now = [NOW_S]
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: now[0])
    return now


def test_a_session_lives_its_ttl_and_no_longer(clock: list[float]) -> None:
    tokens = TokenIssuer("k", session_ttl_s=60.5, share_link_ttl_s=30.0)
    token = tokens.session(DISP)
    clock[0] = NOW_S + 60.0
    who = tokens.verify(token)
    assert (who.name, who.role, who.share_link) == ("disp", Role.DISPATCHER, False)
    clock[0] = NOW_S + 61.0  # older than 60.5 s
    with pytest.raises(BadToken, match="session expired: log in again") as expired:
        tokens.verify(token)
    assert expired.value.name == "disp"  # whose it was, for the audit


def test_a_share_link_lives_its_ttl_and_names_who_issued_it(clock: list[float]) -> None:
    tokens = TokenIssuer("k", session_ttl_s=60.0, share_link_ttl_s=30.0)
    link_id, token = tokens.share_link(7, "disp")
    clock[0] = NOW_S + 30.0
    officer = tokens.verify(token)
    assert (officer.name, officer.role, officer.call_id) == ("officer-link:disp", Role.OFFICER, 7)
    assert (officer.token_id, officer.share_link) == (link_id, True)
    clock[0] = NOW_S + 31.0
    with pytest.raises(BadToken, match="share link expired") as expired:
        tokens.verify(token)
    assert expired.value.name == "officer-link:disp"


def test_a_token_of_another_key_or_garbage_is_invalid(clock: list[float]) -> None:
    ours = TokenIssuer("k", session_ttl_s=60.0, share_link_ttl_s=30.0)
    theirs = TokenIssuer("other", session_ttl_s=60.0, share_link_ttl_s=30.0)
    for token in (theirs.session(DISP), theirs.share_link(1, "disp")[1], "", "a.b.c", "x" * 5000):
        with pytest.raises(BadToken, match="invalid token"):
            ours.verify(token)


def test_sessions_and_share_links_are_signed_apart(clock: list[float]) -> None:
    """A share link is never a session: it acts as an officer on one call only."""
    tokens = TokenIssuer("k", session_ttl_s=60.0, share_link_ttl_s=30.0)
    _, link = tokens.share_link(3, "admin")
    assert tokens.verify(link).role is Role.OFFICER
    assert tokens.verify(tokens.session(DISP)).role is Role.DISPATCHER
