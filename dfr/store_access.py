"""Access: share links to a call (issued, listed, revoked) and the sessions logged out."""

from __future__ import annotations

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, read_call
from dfr.store_records import NotFound, ShareLinkRecord, utc_now


class AccessStore(StoreBase):
    """The share links and revoked sessions tables."""

    async def add_share_link(self, link_id: str, call_id: int, issued_by: str) -> None:
        def work(c: Connection) -> None:
            with transaction(c):
                read_call(c, call_id)  # raises NotFound
                c.execute(
                    "INSERT INTO share_links (id, call_id, issued_by, issued_at) VALUES (?,?,?,?)",
                    (link_id, call_id, issued_by, utc_now()),
                )
                audit_in(c, issued_by, "call.share", f"call:{call_id}", {"link": link_id})

        await self._run_conn(work)

    async def share_links(
        self, call_id: int | None = None, link_id: str | None = None
    ) -> list[ShareLinkRecord]:
        """Share links (of one call, or the one with `link_id`), with their call's status."""
        where, args = (
            ("l.id = ?", (link_id,)) if link_id is not None else ("l.call_id = ?", (call_id,))
        )
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT l.*, c.status AS call_status FROM share_links l"
                f" JOIN calls c ON c.id = l.call_id WHERE {where} ORDER BY l.issued_at",
                args,
            ).fetchall()
        )
        return [ShareLinkRecord(**dict(r)) for r in rows]

    async def revoke_share_link(self, link_id: str, actor: str) -> ShareLinkRecord:
        def work(c: Connection) -> None:
            with transaction(c):
                done = c.execute(
                    "UPDATE share_links SET revoked_at = ?, revoked_by = ?"
                    " WHERE id = ? AND revoked_at IS NULL",
                    (utc_now(), actor, link_id),
                )
                if done.rowcount == 1:
                    audit_in(c, actor, "share_link.revoke", f"share_link:{link_id}", {})

        await self._run_conn(work)
        found = await self.share_links(link_id=link_id)
        if not found:
            raise NotFound(f"no share link {link_id!r}")
        return found[0]

    async def revoke_session(self, session_id: str, actor: str) -> None:
        def work(c: Connection) -> None:
            with transaction(c):
                c.execute(
                    "INSERT INTO revoked_sessions (session_id, at) VALUES (?, ?)"
                    " ON CONFLICT (session_id) DO NOTHING",
                    (session_id, utc_now()),
                )
                audit_in(c, actor, "logout", "", {})

        await self._run_conn(work)

    async def revoked_sessions(self) -> set[str]:
        rows = await self._run_conn(
            lambda c: c.execute("SELECT session_id FROM revoked_sessions").fetchall()
        )
        return {r["session_id"] for r in rows}
