"""The MAVLink parameter protocol, vehicle side: PARAM_REQUEST_LIST / _READ, PARAM_SET.

Every answer is a PARAM_VALUE carrying PX4's type and bytewise INT32 encoding. A
PARAM_SET of the wrong type is refused like PX4 does: the reply carries the
unchanged value, which MAVSDK reports as a failed set.
"""

from __future__ import annotations

from collections.abc import Callable

from sitl.link import Outbox
from sitl.params import ParamError, ParamTable


def _name(raw: object) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return str(raw).split("\x00", 1)[0]


class ParamProtocol:
    """Answers parameter requests for one vehicle (component 1)."""

    def __init__(
        self,
        params: ParamTable,
        outbox: Outbox,
        on_changed: Callable[[str], None] | None = None,
    ) -> None:
        self._params = params
        self._out = outbox
        self._on_changed = on_changed

    def handle(self, msg: object, sender: tuple[int, int]) -> bool:
        """Process one message; False when it is not a parameter message."""
        kind = msg.get_type()  # type: ignore[attr-defined]
        if kind not in ("PARAM_REQUEST_LIST", "PARAM_REQUEST_READ", "PARAM_SET"):
            return False
        if getattr(msg, "target_system", 0) not in (0, self._out.mav.srcSystem):
            return True
        if kind == "PARAM_REQUEST_LIST":
            for name in self._params.names:
                self._send(name)
        elif kind == "PARAM_REQUEST_READ":
            index = msg.param_index  # type: ignore[attr-defined]
            wanted = (
                self._params.name_at(index) if index >= 0 else _name(msg.param_id)  # type: ignore[attr-defined]
            )
            if wanted is not None and wanted in self._params:
                self._send(wanted)
        else:
            self._set(msg)
        return True

    def _set(self, msg: object) -> None:
        name = _name(msg.param_id)  # type: ignore[attr-defined]
        if name not in self._params:
            return  # PX4 stays silent about unknown names; the client times out
        try:
            value = self._params.decode_wire(
                name,
                msg.param_value,  # type: ignore[attr-defined]
                msg.param_type,  # type: ignore[attr-defined]
            )
            self._params.set(name, value)
        except ParamError:
            pass
        else:
            if self._on_changed is not None:
                self._on_changed(name)
        self._send(name)

    def _send(self, name: str) -> None:
        p = self._params
        self._out.send(
            self._out.mav.param_value_encode(
                name.encode(), p.encode_wire(name), p.type_of(name), len(p), p.index_of(name)
            )
        )
