// The WHEP player: live drone video from the relay into a <video> element.

import { currentToken } from "/static/api.js";

const ICE_GATHERING_TIMEOUT_MS = 2000;

function iceGathered(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

// The relay's STUN and TURN servers, with a TURN credential minted for this viewer
// (none when the relay needs none). Asked before each offer: credentials expire. A page
// that cannot ask still plays on the relay's own network.
async function iceServers(whepUrl, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  try {
    const response = await fetch(new URL("/api/video/ice-servers", new URL(whepUrl, location.href)), { headers });
    return response.ok ? await response.json() : [];
  } catch {
    return [];
  }
}

const activePlayers = new Set();

// Leave every WHEP session when the page goes away so the relay frees the viewer.
addEventListener("pagehide", () => {
  for (const player of activePlayers) player.leave(true);
});

/**
 * Play a WHEP stream in `video`. Returns a player {state, frames, stop()}; onState(state)
 * reports connecting / playing / reconnecting / ended / error. The session is DELETEd on stop
 * and on page unload. A failed or dropped session is retried while the player is not stopped.
 */
export function playWhep(video, whepUrl, { token = currentToken(), onState = () => {}, retryMs = 3000 } = {}) {
  const player = {
    state: "connecting", error: null, frames: 0, sessionUrl: null, pc: null, stopped: false,
    stop() {
      player.stopped = true;
      activePlayers.delete(player);
      player.leave(false);
      set("stopped");
    },
    leave(unloading) {
      const url = player.sessionUrl;
      const pc = player.pc;
      player.sessionUrl = null;
      player.pc = null;
      if (!url) {
        if (pc) pc.close();
        return;
      }
      // Hang up, then close: the relay reaps a closed viewer at once, and a DELETE
      // arriving after that would find no session. A closing tab cannot wait.
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const hangUp = fetch(url, { method: "DELETE", headers, keepalive: unloading }).catch(() => {});
      if (!pc) return;
      if (unloading) pc.close();
      else hangUp.finally(() => pc.close());
    },
  };
  activePlayers.add(player);
  // A player taking over an element (another drone's stream) must not count, or show as
  // its own, the frames the previous one still delivers while it hangs up.
  video.srcObject = null;
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;

  function set(state, error = null) {
    player.state = state;
    player.error = error;
    onState(state, error);
  }

  function countFrames() {
    if (player.stopped) return;
    player.frames += 1;
    if (player.state !== "playing" && video.videoWidth > 0) set("playing");
    video.requestVideoFrameCallback(countFrames);
  }
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(countFrames);

  let retryTimer = null;
  function retryLater(reason) {
    if (player.stopped) return;
    player.leave(false);
    set("reconnecting", reason);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, retryMs);
  }

  async function start() {
    if (player.stopped) return;
    const servers = await iceServers(whepUrl, token);
    if (player.stopped) return;
    const pc = new RTCPeerConnection({ iceServers: servers });
    player.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (event) => {
      video.srcObject = event.streams[0] || new MediaStream([event.track]);
      video.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => {
      if (player.pc !== pc) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        retryLater(`connection ${pc.connectionState}`);
      }
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, ICE_GATHERING_TIMEOUT_MS);
      const headers = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(whepUrl, { method: "POST", headers, body: pc.localDescription.sdp });
      const text = await response.text();
      if (response.status !== 201) {
        let detail = text;
        try {
          detail = JSON.parse(text).detail || text;
        } catch {
          // not JSON: keep the text
        }
        // No such stream, ended, or no longer this viewer's to watch: asking again will
        // not change that (a new stream for the page comes with a new player).
        if (response.status === 403 || response.status === 404 || response.status === 410) {
          pc.close();
          player.pc = null;
          set("ended", detail);
          return;
        }
        throw new Error(`video ${response.status}: ${detail}`);
      }
      if (player.stopped || player.pc !== pc) {
        pc.close();
        return;
      }
      const sessionLocation = response.headers.get("Location");
      player.sessionUrl = sessionLocation ? new URL(sessionLocation, location.href).href : null;
      await pc.setRemoteDescription({ type: "answer", sdp: text });
    } catch (error) {
      retryLater(error.message || String(error));
    }
  }

  set("connecting");
  start();
  return player;
}

/** Play a fixed camera's stream in `video`, its state in `box` and `status`; a camera
 * that cannot be reached is tried again every 15 s. Returns the player. */
export function playCamera(video, whepUrl, box, status) {
  return playWhep(video, whepUrl, {
    retryMs: 15000,
    onState: (s, error) => {
      box.dataset.state = s;
      status.textContent = {
        connecting: "Connecting…",
        reconnecting: `Camera unavailable — retrying${error ? ` (${error})` : ""}`,
        ended: "Camera not available",
      }[s] || "";
    },
  });
}
