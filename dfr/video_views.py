"""Who watches the drones' live video: each view stored from when to when, with who
(name, role, share link), which drone, the call and sortie it served and the client's
address, and how many viewers one token may hold at once (drones and fixed cameras
counted apart: the wall shows a call's cameras beside its drone).

    async with VideoViews.running(store, board, refusals, max_per_token=4) as views:
        ticket = await views.admit(principal, "dfr-1", "10.0.0.7")  # or TooManyViewers
        await ticket.started(session_id)  # the viewer's offer was answered
        await ticket.ended("left")        # its connection closed: once, frees the slot

A viewer whose token may no longer watch its stream (`no_longer_allowed`: an officer's
link once the drone left its call, another agency once the drone stopped flying its
call) is hung up on by the server, which asks each time the streams change.

A view still open when the server stops is ended then; one a crashed server left open
is ended at the next start, marked as ended by the restart. One server per database:
a second server started on the same file would end the first one's open views.

Errors::

    VideoViewError
    └── TooManyViewers   the token already holds its maximum of viewers (HTTP 429)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

from dfr.active_sorties import SortieBoard
from dfr.auth import Principal
from dfr.camera_views import camera_of_stream
from dfr.refusal_log import RefusalLog
from dfr.store import REFUSED, NewVideoView, Store, StoreError, VideoViewRecord
from missions.sortie import FINAL_STATES

log = logging.getLogger(__name__)

SERVER_STOPPED = "the server stopped"
NO_LONGER_ALLOWED = (
    "no longer allowed: the drone stopped serving the call this viewer could watch it for"
)
ENDED_BY_RESTART = (
    "ended by the restart: the server had stopped without ending it (the end time is"
    " the restart's, not the viewer's)"
)
_FINAL = tuple(str(s) for s in FINAL_STATES)


class VideoViewError(Exception):
    """Base of the video view errors."""


class TooManyViewers(VideoViewError):
    """The session or share link already holds its maximum of viewers."""


class ViewerTicket:
    """One viewer's slot and its view. It ends once, whichever comes first: the relay's
    report that the connection ended, or the refusal of the offer."""

    def __init__(
        self, views: VideoViews, store: Store, view: NewVideoView, token: str, who: Principal
    ) -> None:
        self._views = views
        self._store = store
        self.view = view
        self.token = token
        self.who = who
        self.session_id: str | None = None  # the relay's, once started
        self.record: VideoViewRecord | None = None  # once started
        self._done = False
        self._lock = asyncio.Lock()

    async def started(self, session_id: str) -> None:
        """The viewer's offer was answered: the view begins (stored and audited)."""
        self.session_id = session_id
        async with self._lock:
            if self.record is None and not self._done:
                self.record = await self._store.start_video_view(self.view)

    async def refused(self, reason: str) -> None:
        """The offer was refused after admission (a bad offer, the stream full or gone)."""
        if self.release():
            view = self.view
            subject = f"stream:{view.stream_id}"
            await self._views.refusals.record(
                view.address, view.principal, "video.view.start", subject, reason, REFUSED
            )

    async def ended(self, reason: str) -> None:
        """The viewer's connection ended (left, failed, stream over, server stopping)."""
        async with self._lock:
            if not self.release():
                return
            if self.record is None:  # the relay was quicker than `started`
                self.record = await self._store.start_video_view(self.view)
            await self._store.end_video_view(self.record.id, reason)

    def release(self) -> bool:
        """Free the token's slot; False when it was free already."""
        if self._done:
            return False
        self._done = True
        self._views._free(self)
        return True


class VideoViews:
    """The record of who watches, and the per-token cap; see the module docstring."""

    def __init__(
        self,
        store: Store,
        board: SortieBoard,
        refusals: RefusalLog,
        max_per_token: int,
        max_cameras_per_token: int = 16,
    ) -> None:
        self._store = store
        self._board = board
        self.refusals = refusals
        self.max_per_token = max_per_token
        self.max_cameras_per_token = max_cameras_per_token
        self._held: Counter[str] = Counter()  # viewers per token, negotiating included
        self._open: set[ViewerTicket] = set()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        store: Store,
        board: SortieBoard,
        refusals: RefusalLog,
        max_per_token: int,
        max_cameras_per_token: int = 16,
    ) -> AsyncIterator[VideoViews]:
        """End the views a crashed server left open, then serve; end those still open
        when the block exits (the relay ends its own viewers before)."""
        views = cls(store, board, refusals, max_per_token, max_cameras_per_token)
        left = await store.end_open_video_views(ENDED_BY_RESTART)
        if left:
            log.warning("%d video view(s) left open by the last run ended now", len(left))
        try:
            yield views
        finally:
            for ticket in list(views._open):
                if ticket.record is None:  # an offer never answered: no view to end
                    ticket.release()
                    continue
                try:
                    await ticket.ended(SERVER_STOPPED)
                except StoreError as exc:
                    log.error("video view %d not ended: %s", ticket.record.id, exc)

    def viewers(self, who: Principal) -> int:
        """Viewers the token `who` came with holds now."""
        return self._held[_token_of(who)]

    async def admit(self, who: Principal, stream_id: str, address: str) -> ViewerTicket:
        """A slot for one more viewer of `stream_id` (a drone's id, or a fixed camera's
        `cam-` stream), once `who` may watch it. Raises TooManyViewers (audited, within
        the refusal log's bound)."""
        camera = camera_of_stream(stream_id) is not None
        token = _token_of(who) + (" cameras" if camera else "")
        limit = self.max_cameras_per_token if camera else self.max_per_token
        if self._held[token] >= limit:
            reason = (
                f"this {'share link' if who.share_link else 'session'} already"
                f" has {limit} {'camera' if camera else 'video'} viewers open: close one first"
            )
            subject = f"stream:{stream_id}"
            await self.refusals.record(
                address, who.name, "video.view.start", subject, reason, REFUSED
            )
            raise TooManyViewers(reason)
        active = next((a for a in self._board if a.station.drone.id == stream_id), None)
        view = NewVideoView(
            principal=who.name,
            role=str(who.role),
            share_link_id=who.token_id if who.share_link else None,
            stream_id=stream_id,
            call_id=active.call.id if active is not None else who.call_id,
            sortie_id=active.record.id if active is not None else None,
            address=address,
        )
        ticket = ViewerTicket(self, self._store, view, token, who)
        self._held[token] += 1
        self._open.add(ticket)
        return ticket

    def no_longer_allowed(self, may_watch: Callable[[Principal, str], bool]) -> list[ViewerTicket]:
        """The viewers watching what their token may no longer watch (`may_watch`): an
        officer's link once the drone left its call, another agency's console once the
        drone no longer flies a call it sees."""
        return [
            t
            for t in self._open
            if t.session_id is not None and not may_watch(t.who, t.view.stream_id)
        ]

    async def page(self, after_id: int = 0, limit: int = -1) -> list[VideoViewRecord]:
        """Every view by id after the cursor `after_id`, at most `limit` (-1: all)."""
        return await self._store.video_views(after_id, limit)

    async def of_sortie(
        self, sortie_id: int, after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched the sortie's drone while the sortie lasted, or for it (the evidence
        of who saw its live video), a page at a time."""
        return await self._store.video_views_of_sortie(sortie_id, _FINAL, after_id, limit)

    async def of_call(
        self, call_id: int, after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched a drone while one of the call's sorties lasted, or for the call."""
        return await self._store.video_views_of_call(call_id, _FINAL, after_id, limit)

    def _free(self, ticket: ViewerTicket) -> None:
        self._open.discard(ticket)
        self._held[ticket.token] -= 1
        if self._held[ticket.token] <= 0:
            del self._held[ticket.token]


def _token_of(who: Principal) -> str:
    """The session's or the share link's id: what the cap counts by."""
    return who.token_id or f"name:{who.name}"
