"""Users, roles, password hashes and signed tokens (sessions and officers' share links).

Users live in a TOML file (``[[users]] name, role, password_hash``); passwords
are hashed with scrypt. Session tokens and share links are signed and carry
an expiry; a share link is scoped to one call and gives the officer role.

Errors::

    AuthError               (Exception)
    ├── BadCredentials      unknown user or wrong password
    ├── BadToken            unsigned, tampered or expired token
    └── UsersFileError      a users file that cannot be used (names file and field)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from itsdangerous import BadPayload, BadSignature, SignatureExpired, URLSafeTimedSerializer


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    PILOT = "pilot"
    OFFICER = "officer"
    RTCC = "rtcc"
    ADMIN = "admin"


CAN_DISPATCH = frozenset({Role.DISPATCHER, Role.PILOT})
CAN_COMMAND = frozenset({Role.DISPATCHER, Role.PILOT})
CAN_WATCH_ALL = frozenset({Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN})

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class AuthError(Exception):
    """Base of the auth errors."""


class BadCredentials(AuthError):
    """Unknown user or wrong password."""


class BadToken(AuthError):
    """A token that is not ours, was altered, has expired or was revoked; `name` is who it
    was signed for when that is known (an expired or revoked token, not a forged one)."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class UsersFileError(AuthError):
    """A users file that cannot be used."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str
    #: The agency the user belongs to (dfr.agencies); None: the whole deployment.
    agency: str | None = None
    #: Other agencies the user is granted sight of (a fusion center's).
    sees: tuple[str, ...] = ()

    @property
    def agencies(self) -> frozenset[str] | None:
        """The agencies whose records the user sees; None: every agency's."""
        if self.agency is None and not self.sees:
            return None
        return frozenset({*self.sees, *([self.agency] if self.agency else [])})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a logged-in user, or an officer holding a share link for one call.

    `call_id` set scopes the principal to that one call: a share link's call, or an
    officer account's latest request ("drone to me"; `NO_CALL` before the first).
    """

    name: str
    role: Role
    call_id: int | None = None  # the only call this principal may see; None: every call
    token_id: str | None = None  # the session's or the share link's id (to revoke it)
    share_link: bool = False  # came with a share link, not a signed-in session
    #: The agencies whose calls, drones and records it sees (None: every agency's);
    #: `agency`: the one it acts for.
    agencies: frozenset[str] | None = None
    agency: str | None = None


#: The scope of an officer account that has asked for no drone yet: no call has id 0.
NO_CALL = 0


def hash_password(password: str) -> str:
    """scrypt$N$r$p$salt$hash, all base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


class UserDirectory:
    """The users allowed in, by name."""

    def __init__(self, users: list[User], path: Path | None = None) -> None:
        self._users = {u.name: u for u in users}
        self._path = path
        self._mtime_ns = _mtime_ns(path)

    def refresh(self) -> None:
        """Re-read the users file if it changed since it was read (a removed or changed
        user loses access at once). Raises UsersFileError for a file that is now bad."""
        if self._path is None:
            return
        mtime_ns = _mtime_ns(self._path)
        if mtime_ns != self._mtime_ns:
            fresh = UserDirectory.load(self._path)
            self._users, self._mtime_ns = fresh._users, fresh._mtime_ns

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise UsersFileError(f"{path}: cannot read users file: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UsersFileError(f"{path}: not valid TOML: {exc}") from exc
        users = []
        for i, entry in enumerate(data.get("users", [])):
            where = f"{path}: user #{i + 1}"
            unknown = set(entry) - {"name", "role", "password_hash", "agency", "sees"}
            if unknown:
                raise UsersFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
            try:
                role = Role(entry.get("role"))
            except ValueError:
                raise UsersFileError(
                    f"{where}: field 'role' must be one of {', '.join(Role)}"
                ) from None
            name, hashed = entry.get("name"), entry.get("password_hash")
            if not isinstance(name, str) or not name:
                raise UsersFileError(f"{where}: field 'name' is missing")
            if not isinstance(hashed, str) or not hashed.startswith("scrypt$"):
                raise UsersFileError(
                    f"{where} ({name}): field 'password_hash' is not a scrypt hash"
                )
            agency, sees = entry.get("agency"), entry.get("sees", [])
            if agency is not None and (not isinstance(agency, str) or not agency):
                raise UsersFileError(f"{where} ({name}): field 'agency' must be an agency id")
            if not isinstance(sees, list) or not all(isinstance(a, str) and a for a in sees):
                raise UsersFileError(f"{where} ({name}): field 'sees' must be a list of agency ids")
            users.append(User(name, role, hashed, agency, tuple(sees)))
        return cls(users, path)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def authenticate(self, name: str, password: str) -> User:
        """Blocks for the password hash (~50 ms): the server uses `dfr.login_guard`."""
        user = self._users.get(name)
        if user is None or not verify_password(password, user.password_hash):
            raise BadCredentials("unknown user or wrong password")
        return user

    def __len__(self) -> int:
        return len(self._users)


def _mtime_ns(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def write_users_file(
    path: Path,
    users: Mapping[str, tuple[Role, str] | tuple[Role, str, str | None, tuple[str, ...]]],
) -> None:
    """Write a users file from {name: (role, plain password[, agency, sees])}, hashing the
    passwords."""
    lines = []
    for name, (role, password, *scope) in users.items():
        lines += [
            "[[users]]",
            f'name = "{name}"',
            f'role = "{role}"',
            f'password_hash = "{hash_password(password)}"',
        ]
        agency, sees = (scope[0], scope[1]) if scope else (None, ())
        if agency is not None:
            lines.append(f'agency = "{agency}"')
        if sees:
            lines.append("sees = [" + ", ".join(f'"{a}"' for a in sees) + "]")
        lines.append("")
    path.write_text("\n".join(lines))
    path.chmod(0o600)


class TokenIssuer:
    """Signs and checks session tokens and share links."""

    def __init__(self, secret_key: str, session_ttl_s: float, share_link_ttl_s: float) -> None:
        self._session = URLSafeTimedSerializer(secret_key, salt="dfr-session")
        self._share = URLSafeTimedSerializer(secret_key, salt="dfr-share-link")
        self.session_ttl_s = session_ttl_s
        self.share_link_ttl_s = share_link_ttl_s
        # Signed timestamps are whole seconds: for those, "older than floor(ttl)" is
        # "older than ttl".
        self._session_max_age_s = math.floor(session_ttl_s)
        self._share_max_age_s = math.floor(share_link_ttl_s)

    def session(self, user: User) -> str:
        return self._session.dumps(
            {"name": user.name, "role": str(user.role), "sid": secrets.token_urlsafe(12)}
        )

    def share_link(self, call_id: int, issued_by: str) -> tuple[str, str]:
        """A new share link for `call_id`: (its id, its token)."""
        link_id = secrets.token_urlsafe(9)
        return link_id, self._share.dumps({"call_id": call_id, "by": issued_by, "id": link_id})

    def verify(self, token: str) -> Principal:
        """A session token or a share link → Principal; raises BadToken.

        Only the signature and the age are checked here: whether the user still exists
        and the token was not revoked is the operations service's question.
        """
        try:
            data = self._session.loads(token, max_age=self._session_max_age_s)
        except SignatureExpired as exc:
            name = _signed(self._session, exc).get("name")
            raise BadToken("session expired: log in again", name) from exc
        except BadSignature:
            pass
        else:
            if "sid" not in data:
                raise BadToken("a session from an older dfr: log in again", data.get("name"))
            return Principal(data["name"], Role(data["role"]), token_id=data["sid"])
        try:
            data = self._share.loads(token, max_age=self._share_max_age_s)
        except SignatureExpired as exc:
            by = _signed(self._share, exc).get("by")
            raise BadToken("share link expired", _link_holder(by) if by else None) from exc
        except BadSignature as exc:
            raise BadToken("invalid token") from exc
        if "id" not in data:
            raise BadToken("a share link from an older dfr: ask for a new one")
        return Principal(
            _link_holder(data["by"]),
            Role.OFFICER,
            call_id=int(data["call_id"]),
            token_id=data["id"],
            share_link=True,
        )


def _link_holder(issued_by: str) -> str:
    """The name an officer's share link acts under: who issued it."""
    return f"officer-link:{issued_by}"


def _signed(serializer: URLSafeTimedSerializer, expired: SignatureExpired) -> dict:
    """What an expired token was signed with (its signature is good, only its age is not)."""
    try:
        data = serializer.load_payload(expired.payload) if expired.payload else None
    except BadPayload:
        return {}
    return data if isinstance(data, dict) else {}


def ensure_secret_key(path: Path) -> str:
    """Read the server's signing key, creating it (0600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


DEMO_ROLES = (Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN, Role.OFFICER)


#: With agencies: each agency's demo users, named <agency>-<role>.
DEMO_AGENCY_ROLES = (Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.OFFICER)
#: ...and a fusion center's, who sees every agency.
FUSION_USER = "fusion"


def demo_users(agencies: Sequence[str] = ()) -> dict[str, tuple[Role, str | None, tuple[str, ...]]]:
    """The demo users: one per role; with agencies, one per role and agency
    (`apd-dispatcher`...), a fusion center's `fusion` (rtcc, sees every agency) and one
    deployment-wide `admin`. {name: (role, agency, sees)}."""
    if not agencies:
        return {str(role): (role, None, ()) for role in DEMO_ROLES}
    users: dict[str, tuple[Role, str | None, tuple[str, ...]]] = {
        f"{agency}-{role}": (role, agency, ()) for agency in agencies for role in DEMO_AGENCY_ROLES
    }
    users[FUSION_USER] = (Role.RTCC, None, tuple(agencies))
    users["admin"] = (Role.ADMIN, None, ())
    return users


def ensure_demo_users(path: Path, agencies: Sequence[str] = ()) -> dict[str, str] | None:
    """Create a users file with demo users (`demo_users`) and random passwords, once.

    Returns {name: password} when it created the file (to print once), else None.
    """
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    users = demo_users(agencies)
    passwords = {name: secrets.token_urlsafe(9) for name in users}
    write_users_file(
        path,
        {
            name: (role, passwords[name], agency, sees)
            for name, (role, agency, sees) in users.items()
        },
    )
    (path.parent / "demo-passwords.txt").write_text(
        "".join(f"{name} {pw}\n" for name, pw in passwords.items())
    )
    (path.parent / "demo-passwords.txt").chmod(0o600)
    return passwords
