"""Tokens stop working the moment they should: logout, a user removed from the users
file, a revoked share link, a closed call."""

from __future__ import annotations

import time

from dfr.auth import write_users_file
from tests.api.conftest import PASSWORDS, ROLES, login

CALL = {"latitude_deg": 38.2600, "longitude_deg": -104.6000, "priority": 2, "summary": "x"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_logout_ends_the_session_at_once(client) -> None:
    headers = login(client, "rtcc")
    assert client.get("/api/me", headers=headers).status_code == 200
    assert client.post("/api/logout", headers=headers).status_code == 204
    refused = client.get("/api/me", headers=headers)
    assert refused.status_code == 401
    assert "logged out" in refused.json()["detail"]
    assert client.get("/api/me", headers=login(client, "rtcc")).status_code == 200


def test_a_user_removed_from_the_users_file_loses_access_at_once(client, api_settings) -> None:
    users = api_settings.users_file
    admin = login(client, "admin")
    assert client.get("/api/audit", headers=admin).status_code == 200
    kept = {n: (ROLES[n], pw) for n, pw in PASSWORDS.items() if n != "admin"}
    try:
        write_users_file(users, kept)
        time.sleep(1.1)  # the users file is looked at once a second at most
        refused = client.get("/api/audit", headers=admin)
        assert refused.status_code == 401
        assert "no longer exists" in refused.json()["detail"]
    finally:
        write_users_file(users, {n: (ROLES[n], pw) for n, pw in PASSWORDS.items()})
        time.sleep(1.1)
    assert client.get("/api/audit", headers=login(client, "admin")).status_code == 200


def test_share_links_are_listed_revoked_and_die_with_their_call(client) -> None:
    disp = login(client, "disp")
    call = client.post("/api/calls", json=CALL, headers=disp).json()
    first = client.post(f"/api/calls/{call['id']}/share", headers=disp).json()
    second = client.post(f"/api/calls/{call['id']}/share", headers=disp).json()
    assert first["url"].endswith(first["token"])
    officer = bearer(first["token"])
    assert client.get("/api/me", headers=officer).json()["call_id"] == call["id"]

    listed = client.get(f"/api/calls/{call['id']}/share-links", headers=disp).json()
    assert [link["id"] for link in listed] == [first["id"], second["id"]]
    assert all(link["issued_by"] == "disp" and link["revoked_at"] is None for link in listed)
    assert client.get(f"/api/calls/{call['id']}/share-links", headers=officer).status_code == 403

    revoked = client.delete(f"/api/share-links/{first['id']}", headers=disp)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == "disp"
    gone = client.get("/api/me", headers=officer)
    assert gone.status_code == 401
    assert "revoked" in gone.json()["detail"]
    assert client.delete("/api/share-links/no-such-link", headers=disp).status_code == 404

    other = bearer(second["token"])
    assert client.get(f"/api/calls/{call['id']}", headers=other).status_code == 200
    assert client.post(f"/api/calls/{call['id']}/close", headers=disp).status_code == 200
    closed = client.get(f"/api/calls/{call['id']}", headers=other)
    assert closed.status_code == 401
    assert "closed" in closed.json()["detail"]

    audit = client.get("/api/audit", params={"limit": 5000}, headers=disp).json()
    actions = {(e["actor"], e["action"], e["subject"]) for e in audit}
    assert ("disp", "share_link.revoke", f"share_link:{first['id']}") in actions


def test_a_console_asking_for_an_unknown_stream_hears_that_it_does_not_exist(client) -> None:
    sdp = {"Content-Type": "application/sdp"}
    disp = login(client, "disp")
    unknown = client.post("/whep/no-such-drone", content="v=0\r\n", headers={**disp, **sdp})
    assert unknown.status_code == 404
    assert "no-such-drone" in unknown.json()["detail"]
    assert client.delete("/whep/no-such-drone/s1", headers=disp).status_code == 404
    # A share link still learns nothing of the streams that are not its call's.
    call = client.post("/api/calls", json=CALL, headers=disp).json()
    officer = bearer(client.post(f"/api/calls/{call['id']}/share", headers=disp).json()["token"])
    for stream_id in ("no-such-drone", "dfr-1"):
        refused = client.post(f"/whep/{stream_id}", content="v=0\r\n", headers={**officer, **sdp})
        assert refused.status_code == 403
    assert client.post("/whep/dfr-1", content="v=0\r\n", headers=sdp).status_code == 401
