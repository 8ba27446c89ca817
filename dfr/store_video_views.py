"""Video views: who watched a drone's live video, from when to when and why it ended,
each start and end audited; listed, and read for a sortie or a call.
"""

from __future__ import annotations

from collections.abc import Iterable

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, at_most
from dfr.store_records import NewVideoView, NotFound, VideoViewRecord, utc_now


class VideoViewStore(StoreBase):
    """The video views table."""

    async def start_video_view(self, view: NewVideoView) -> VideoViewRecord:
        """Record that someone started watching (and audit it, in one transaction)."""

        def work(c: Connection) -> VideoViewRecord:
            with transaction(c):
                cur = c.execute(
                    "INSERT INTO video_views (principal, role, share_link_id, stream_id,"
                    " call_id, sortie_id, address, started_at) VALUES (?,?,?,?,?,?,?,?)"
                    " RETURNING id",
                    (
                        view.principal,
                        view.role,
                        view.share_link_id,
                        view.stream_id,
                        view.call_id,
                        view.sortie_id,
                        view.address,
                        utc_now(),
                    ),
                )
                view_id = int(cur.fetchall()[0][0])
                details = {
                    "view_id": view_id,
                    "call_id": view.call_id,
                    "sortie_id": view.sortie_id,
                    "address": view.address,
                    "share_link_id": view.share_link_id,
                }
                audit_in(c, view.principal, "video.view.start", f"stream:{view.stream_id}", details)
                return _get_video_view(c, view_id)

        return await self._run_conn(work)

    async def end_video_view(self, view_id: int, reason: str) -> VideoViewRecord | None:
        """Record that a view ended, and why; None when it had ended already."""

        def work(c: Connection) -> VideoViewRecord | None:
            with transaction(c):
                return _end_video_view(c, view_id, utc_now(), reason)

        return await self._run_conn(work)

    async def end_open_video_views(self, reason: str) -> list[VideoViewRecord]:
        """End every view still open (those a stopped server could not end), now."""

        def work(c: Connection) -> list[VideoViewRecord]:
            now = utc_now()
            with transaction(c):
                rows = c.execute("SELECT id FROM video_views WHERE ended_at IS NULL").fetchall()
                ended = [_end_video_view(c, r["id"], now, reason) for r in rows]
            return [v for v in ended if v is not None]

        return await self._run_conn(work)

    async def video_views(self, after_id: int = 0, limit: int = -1) -> list[VideoViewRecord]:
        """Video views by id after `after_id` (a cursor), at most `limit` (-1: all)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM video_views WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, at_most(limit)),
            ).fetchall()
        )
        return [VideoViewRecord(**dict(r)) for r in rows]

    async def video_views_of_sortie(
        self, sortie_id: int, final_states: Iterable[str], after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched the sortie's drone while the sortie lasted (from its reservation to
        its first event in one of `final_states`), or started watching for it; by id
        after `after_id`, at most `limit` (-1: all)."""
        return await self._views_during("id", sortie_id, tuple(final_states), after_id, limit)

    async def video_views_of_call(
        self, call_id: int, final_states: Iterable[str], after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched a drone while one of the call's sorties lasted, or for the call."""
        return await self._views_during("call_id", call_id, tuple(final_states), after_id, limit)

    async def _views_during(
        self, column: str, value: int, final_states: tuple[str, ...], after_id: int, limit: int
    ) -> list[VideoViewRecord]:
        own = "sortie_id" if column == "id" else "call_id"
        finals = ",".join("?" * len(final_states)) or "NULL"
        # ISO times in UTC with milliseconds, all written by utc_now(): they sort as text.
        sql = (
            "WITH s AS (SELECT drone_id, created_at, (SELECT MIN(e.at) FROM sortie_events e"
            f" WHERE e.sortie_id = sorties.id AND e.state IN ({finals})) AS ended_at"
            f" FROM sorties WHERE {column} = ?)"
            f" SELECT v.* FROM video_views v WHERE v.id > ? AND (v.{own} = ? OR EXISTS"
            " (SELECT 1 FROM s WHERE v.stream_id = s.drone_id"
            " AND (s.ended_at IS NULL OR v.started_at < s.ended_at)"
            " AND (v.ended_at IS NULL OR v.ended_at > s.created_at))) ORDER BY v.id LIMIT ?"
        )
        args = (*final_states, value, after_id, value, at_most(limit))
        rows = await self._run_conn(lambda c: c.execute(sql, args).fetchall())
        return [VideoViewRecord(**dict(r)) for r in rows]


def _get_video_view(c: Connection, view_id: int) -> VideoViewRecord:
    row = c.execute("SELECT * FROM video_views WHERE id = ?", (view_id,)).fetchone()
    if row is None:
        raise NotFound(f"no video view {view_id}")
    return VideoViewRecord(**dict(row))


def _end_video_view(c: Connection, view_id: int, at: str, reason: str) -> VideoViewRecord | None:
    ended = c.execute(
        "UPDATE video_views SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
        (at, reason, view_id),
    )
    if ended.rowcount != 1:
        return None
    view = _get_video_view(c, view_id)
    details = {"view_id": view_id, "started_at": view.started_at, "reason": reason}
    audit_in(c, view.principal, "video.view.end", f"stream:{view.stream_id}", details)
    return view
