"""Launch requests between servers: a sortie one server reserved for a drone another
server links is launched by that other server, on request over the event relay.

A notification can be lost on the way (the holder's LISTEN connection reconnecting,
the sender's connection dropped mid-send, a full outbox), and a lost request would
leave the drone reserved and the call waiting for a launch that never comes. So the
server that reserved the sortie asks again every `RESEND_S`, each time of whichever
server holds the drone's lease then, until one answers that it has the sortie, the
reservation is no longer waiting (launched, withdrawn, settled), or it is older than
`FRESH_RESERVATION_S` (the age beyond which a server taking the drone over releases it
rather than launching it).

The holder handles a request once: a repeat that arrives while the first is being
handled is dropped, one that arrives later finds the sortie on its board (or no longer
reserved) and is answered again without a second launch.

    start_sortie  {sortie_id, who, role, policy, reply_to}   to the drone's holder
    sortie_taken  {sortie_id}                                 back to reply_to
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dfr.event_relay import EventRelay
from dfr.sortie_recovery import FRESH_RESERVATION_S

log = logging.getLogger(__name__)

START_SORTIE = "start_sortie"
SORTIE_TAKEN = "sortie_taken"
#: How long to wait for the holder's answer before asking again.
RESEND_S = 2.0

#: Launches a requested sortie here; True when this server has it now (started, or
#: found started or settled), False when it cannot (it does not link the drone).
Starter = Callable[[dict[str, Any]], Awaitable[bool]]


class LaunchRequests:
    """This server's launch requests to others, and its answers to theirs."""

    def __init__(
        self,
        relay: EventRelay,
        holder_of: Callable[[str], str | None],
        state_of: Callable[[int], Awaitable[str]],
        start: Starter,
        resend_s: float = RESEND_S,
        give_up_s: float = FRESH_RESERVATION_S,
    ) -> None:
        """`holder_of(drone_id)`: the server holding the drone's lease; `state_of(id)`:
        a sortie's stored state; `start`: launches a sortie requested of this server."""
        self._relay = relay
        self._holder_of = holder_of
        self._state_of = state_of
        self._start = start
        self._resend_s = resend_s
        self._give_up_s = give_up_s
        self._taken: dict[int, asyncio.Event] = {}  # answers awaited, by sortie id
        self._asking: set[asyncio.Task[None]] = set()
        self._handling: set[int] = set()  # requests of others being handled here
        self.sent = 0  # requests sent, repeats included

    def ask(self, sortie_id: int, drone_id: str, data: dict[str, Any]) -> None:
        """Have the drone's holder launch the sortie; asks again until it answers."""
        self._taken[sortie_id] = asyncio.Event()
        task = asyncio.create_task(
            self._keep_asking(sortie_id, drone_id, data), name=f"launch request {sortie_id}"
        )
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def _keep_asking(self, sortie_id: int, drone_id: str, data: dict[str, Any]) -> None:
        taken = self._taken[sortie_id]
        message = {**data, "sortie_id": sortie_id, "reply_to": self._relay.origin}
        deadline = time.monotonic() + self._give_up_s
        try:
            while time.monotonic() < deadline:
                holder = self._holder_of(drone_id)
                if holder is not None:
                    self._relay.request(holder, START_SORTIE, message)
                    self.sent += 1
                try:
                    async with asyncio.timeout(self._resend_s):
                        await taken.wait()
                    return
                except TimeoutError:
                    pass
                try:
                    waiting = await self._state_of(sortie_id) == "reserved"
                except Exception:  # noqa: BLE001 - the database away a moment: ask again
                    log.exception("sortie %d: could not read its state", sortie_id)
                    waiting = True
                if not waiting:
                    return
                log.warning(
                    "sortie %d: no answer from %s to its launch request; asking again",
                    sortie_id,
                    holder or "any server (nobody links the drone)",
                )
            log.error(
                "sortie %d: no server took its launch within %g s", sortie_id, self._give_up_s
            )
        finally:
            self._taken.pop(sortie_id, None)

    async def received(self, kind: str, data: dict[str, Any]) -> None:
        """A request or an answer from another server."""
        if kind == SORTIE_TAKEN:
            taken = self._taken.get(int(data["sortie_id"]))
            if taken is not None:
                taken.set()
            return
        if kind != START_SORTIE:
            log.warning("a request of an unknown kind ignored: %s", kind)
            return
        sortie_id = int(data["sortie_id"])
        if sortie_id in self._handling:
            return  # a repeat of one being handled: answered when that one is done
        self._handling.add(sortie_id)
        try:
            has_it = await self._start(data)
        finally:
            self._handling.discard(sortie_id)
        reply_to = data.get("reply_to")
        if has_it and reply_to is not None:
            self._relay.request(str(reply_to), SORTIE_TAKEN, {"sortie_id": sortie_id})

    async def close(self) -> None:
        """Stop asking (at shutdown)."""
        for task in list(self._asking):
            task.cancel()
        await asyncio.gather(*self._asking, return_exceptions=True)
