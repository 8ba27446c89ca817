// The console WebSocket (/api/ws) with reconnect, and the header pill showing its state.

import { toast } from "/static/alerts.js";

const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 15000;
const AUTH_FAILED_CODE = 4401;

/** A header pill showing the live link's state: connecting, live, reconnecting, offline. */
export function connectionIndicator(element) {
  const text = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
  };
  return (state, extra = "") => {
    element.dataset.state = state;
    element.textContent = text[state] + (extra ? ` ${extra}` : "");
    element.title = state === "live" ? "Receiving live updates" : "Live updates interrupted";
  };
}

/**
 * The console WebSocket with reconnect (1 s, doubling up to 15 s).
 * onMessage(msg) for each JSON message; onState(state) with connecting/live/reconnecting/offline;
 * onAuthFailed(reason) when the server refuses the token (no retry then).
 * Returns {close()}.
 */
export function connectSocket({ token, onMessage, onState, onAuthFailed }) {
  let socket = null;
  let delayMs = FIRST_RETRY_MS;
  let timer = null;
  let closed = false;
  let opened = false;

  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    onState(opened ? "reconnecting" : "connecting");
    // The token goes in the first message, never in the URL (URLs end up in logs).
    socket = new WebSocket(`${scheme}://${location.host}/api/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token }));
      opened = true;
      delayMs = FIRST_RETRY_MS;
      onState("live");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      try {
        onMessage(message);
      } catch (error) {
        // a bad message must not kill the feed; show it rather than hide it
        toast(`display error: ${error.message}`, "error");
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (closed) return;
      if (event.code === AUTH_FAILED_CODE) {
        onState("offline");
        if (onAuthFailed) onAuthFailed(event.reason || "not logged in");
        return;
      }
      onState(opened ? "reconnecting" : "offline");
      timer = setTimeout(open, delayMs);
      delayMs = Math.min(delayMs * 2, LAST_RETRY_MS);
    });
  };
  addEventListener("online", () => {
    if (!socket && !closed) {
      clearTimeout(timer);
      delayMs = FIRST_RETRY_MS;
      open();
    }
  });
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
  };
}
