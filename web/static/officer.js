// The officer's phone view, opened from a share link (#token=...): the drone's live video
// full screen, the call, the drone's ETA or "on scene", and a small map with the drone,
// the scene and the officer's own position. Works with the link's token alone.

import { showPageError } from "/static/alerts.js";
import { api } from "/static/api.js";
import { startConsole } from "/static/console.js";
import { h } from "/static/dom.js";
import { clock, distanceM, km, remainingEtaS } from "/static/format.js";
import { DfrMap, SCENE_HTML } from "/static/map.js";
import { shareLinkToken } from "/static/session.js";
import { playWhep } from "/static/video.js";

const state = {
  callId: null,
  call: null,
  sortie: null,
  drone: null,
  me: null, // [lat, lon] of the officer, when the phone shares it
  streams: [],
  relieved: new Set(), // sorties a relief took this call over from (overwatch)
  player: null,
  playerStream: null,
  userMovedMapAt: 0,
};

let dfrMap = null;
let sortieStates = null; // SortieStates from the server

const STATUS = {
  none: "Waiting for a drone",
  awaiting_pilot: "Drone assigned · pilot confirming",
  launching: "Launching",
  en_route: "En route",
  on_scene: "ON SCENE",
  returning: "Drone returning",
  landed: "Sortie ended",
  docked: "Sortie ended",
  aborted: "Sortie aborted",
  fault: "Drone fault",
};

function renderStatus() {
  const box = document.getElementById("officer-status");
  const sortie = state.sortie;
  const s = sortie ? sortie.state : "none";
  box.dataset.state = s;
  let text = STATUS[s] || s.replace(/_/g, " ");
  if (sortie && (s === "launching" || s === "en_route")) {
    const left = remainingEtaS(sortie);
    if (left != null) text += left > 0 ? ` · ETA ${clock(left)}` : " · arriving";
  }
  box.textContent = text;
}

function renderCall() {
  const call = state.call;
  if (!call) return;
  document.getElementById("officer-call").replaceChildren(
    h("span", { class: `prio prio-${call.priority}` }, `P${call.priority}`),
    h("span", { class: "officer-summary" }, call.summary || `Call #${call.id}`),
  );
  document.title = `Drone video — call #${call.id}`;
}

function renderDistances() {
  const parts = [];
  const d = state.drone;
  const scene = state.call && [state.call.latitude_deg, state.call.longitude_deg];
  if (d && d.latitude_deg != null && scene && state.sortie && !sortieStates.hasEnded(state.sortie.state)) {
    const away = distanceM([d.latitude_deg, d.longitude_deg], scene);
    parts.push(away < 40 ? "Drone over the scene" : `Drone ${km(away)} away`);
  }
  if (state.me && scene) parts.push(`You: ${km(distanceM(state.me, scene))}`);
  document.getElementById("officer-distances").replaceChildren(...parts.map((p) => h("div", {}, p)));
}

function fitMap() {
  if (!dfrMap || Date.now() - state.userMovedMapAt < 20000) return;
  const points = [];
  if (state.call) points.push([state.call.latitude_deg, state.call.longitude_deg]);
  if (state.drone && state.drone.latitude_deg != null) points.push([state.drone.latitude_deg, state.drone.longitude_deg]);
  if (state.me) points.push(state.me);
  if (!points.length) return;
  // Keep the markers clear of the enlarge button in the top right corner.
  dfrMap.map.fitBounds(L.latLngBounds(points), {
    paddingTopLeft: [24, 52], paddingBottomRight: [52, 24], maxZoom: 16, animate: false,
  });
}

function renderMap() {
  if (!dfrMap) return;
  if (state.call) {
    dfrMap.setMarker("scene", [state.call.latitude_deg, state.call.longitude_deg], { html: SCENE_HTML, size: [30, 30], title: "Scene" });
  }
  if (state.drone) dfrMap.updateDrones([state.drone], { labels: false });
  if (state.me) {
    dfrMap.setMarker("me", state.me, { html: '<div class="officer-icon"></div>', size: [18, 18], title: "You", zIndexOffset: 800 });
  }
  fitMap();
}

// ---------------------------------------------------------------- video

function onStreams({ streams }) {
  state.streams = streams || [];
  updateVideo();
}

function updateVideo() {
  const box = document.getElementById("video-box");
  const label = document.getElementById("video-state");
  const droneId = state.sortie && state.sortie.drone_id;
  // The server sends this page the stream serving its call (under overwatch it moves to
  // the relief drone once that is on scene); a console's list has every drone's.
  const stream = state.streams.find((s) => s.call_id === state.callId)
    || state.streams.find((s) => (droneId ? s.drone_id === droneId : true));
  if (state.player && (!stream || stream.stream_id !== state.playerStream)) {
    state.player.stop();
    state.player = null;
    state.playerStream = null;
  }
  if (!stream) {
    box.dataset.state = "idle";
    label.textContent = !state.sortie ? "Video starts when a drone is sent"
      : sortieStates.hasEnded(state.sortie.state) ? "Video ended" : "Waiting for video…";
    return;
  }
  if (!state.player) {
    state.playerStream = stream.stream_id;
    state.player = playWhep(document.getElementById("video"), stream.whep_url, {
      onState: (s, error) => {
        box.dataset.state = s;
        label.textContent = {
          connecting: "Connecting video…", reconnecting: "Video interrupted — retrying…", ended: "Video ended",
        }[s] || "";
        if (error && s === "reconnecting") label.title = error;
      },
    });
    window.dfrOfficer.player = state.player;
  }
}

// ---------------------------------------------------------------- live updates

function onTelemetry({ drones = [] }) {
  const droneId = state.sortie && state.sortie.drone_id;
  const drone = droneId && drones.find((d) => d.id === droneId);
  if (drone) {
    state.drone = drone;
    renderMap();
    renderDistances();
  }
}

function onSortie({ sortie }) {
  if (sortie.call_id !== state.callId || state.relieved.has(sortie.id)) return;
  const current = state.sortie;
  if (current && current.id !== sortie.id && sortie.relieves === current.id && !sortieStates.hasEnded(current.state)) {
    // Overwatch: a relief on its way. It takes over the call once it is on scene; the
    // drone it relieves then flies home and this page no longer follows it.
    if (sortie.state !== "on_scene") return;
    state.relieved.add(current.id);
    state.drone = null;
  }
  const changed = !state.sortie || state.sortie.state !== sortie.state || state.sortie.id !== sortie.id;
  state.sortie = { ...(state.sortie && state.sortie.id === sortie.id ? state.sortie : {}), ...sortie };
  renderStatus();
  if (changed) updateVideo();
}

function onCall({ call }) {
  if (call.id !== state.callId) return;
  state.call = call;
  renderCall();
}

function watchMyPosition() {
  if (!("geolocation" in navigator)) return;
  try {
    navigator.geolocation.watchPosition(
      (position) => {
        state.me = [position.coords.latitude, position.coords.longitude];
        renderMap();
        renderDistances();
      },
      () => {}, // not allowed or not available: the page works without it
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 },
    );
  } catch {
    // some browsers throw on insecure origins; the position is optional
  }
}

// ---------------------------------------------------------------- drone to me (officer accounts)

const GEO_OPTIONS = { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 };

function geoMessage(error) {
  if (!error) return "Location is not available on this phone or browser.";
  if (error.code === 1) return "Location is denied: allow location for this site to ask for a drone.";
  if (error.code === 3) return "No position fix yet: try again in the open.";
  return "Your position is not available right now.";
}

function say(id, text, kind = "info") {
  const box = document.getElementById(id);
  box.textContent = text;
  box.dataset.kind = kind;
}

function currentPosition() {
  return new Promise((resolve, reject) => {
    if (!("geolocation" in navigator)) {
      reject(null);
      return;
    }
    navigator.geolocation.getCurrentPosition(resolve, reject, GEO_OPTIONS);
  });
}

function fixOf(position) {
  return {
    latitude_deg: position.coords.latitude,
    longitude_deg: position.coords.longitude,
    accuracy_m: position.coords.accuracy,
  };
}

function showRequestPanel() {
  document.getElementById("drone-to-me").hidden = false;
  document.getElementById("officer-status").textContent = "No drone asked for";
  document.getElementById("video-state").textContent = "Press Drone to me to ask for a drone";
  const button = document.getElementById("dtm-button");
  button.addEventListener("click", async () => {
    button.disabled = true;
    say("dtm-message", "Finding your position…");
    let position;
    try {
      position = await currentPosition();
    } catch (error) {
      say("dtm-message", geoMessage(error), "error");
      button.disabled = false;
      return;
    }
    const fix = fixOf(position);
    say("dtm-message", `Position ±${Math.round(fix.accuracy_m)} m · asking for a drone…`);
    const priority = Number(document.getElementById("dtm-priority").value);
    try {
      await api("/api/officer/requests", { method: "POST", body: { ...fix, priority }, quiet: true });
    } catch (error) {
      say("dtm-message", error.detail || String(error), "error");
      button.disabled = false;
      return;
    }
    location.reload(); // the page now shows the request: its call, its drone, its video
  });
}

let followWatch = null;

function offerCancel() {
  const button = document.getElementById("cancel-request");
  button.addEventListener("click", async () => {
    if (!confirm("Send the drone home and close your request?")) return;
    button.disabled = true;
    try {
      await api(`/api/officer/requests/${state.callId}/cancel`, { method: "POST", quiet: true });
    } catch (error) {
      say("follow-message", error.detail || String(error), "error");
      button.disabled = false;
      return;
    }
    location.reload(); // no request open: the page offers "Drone to me" again
  });
}

function startFollow() {
  const box = document.getElementById("follow-box");
  box.hidden = false;
  offerCancel();
  const toggle = document.getElementById("follow-me");
  const send = async (position, follow) => {
    const fix = fixOf(position);
    state.me = [fix.latitude_deg, fix.longitude_deg];
    renderMap();
    renderDistances();
    try {
      const answer = await api(`/api/officer/requests/${state.callId}/position`, {
        method: "POST", body: { ...fix, follow }, quiet: true,
      });
      window.dfrOfficer.follow = answer;
      toggle.checked = answer.follow;
      const text = answer.outcome === "repositioned" ? `Drone follows you (±${Math.round(fix.accuracy_m)} m)` : answer.reason;
      say("follow-message", text, answer.outcome === "refused" ? "error" : "info");
    } catch (error) {
      say("follow-message", error.detail || String(error), "error");
    }
  };
  toggle.addEventListener("change", () => {
    if (followWatch != null) navigator.geolocation.clearWatch(followWatch);
    followWatch = null;
    if (!toggle.checked) {
      currentPosition().then((p) => send(p, false), () => say("follow-message", "Follow me is off"));
      return;
    }
    if (!("geolocation" in navigator)) {
      toggle.checked = false;
      say("follow-message", geoMessage(null), "error");
      return;
    }
    say("follow-message", "Following your position…");
    // The position now, then each change (a watch may say nothing until the phone moves).
    currentPosition().then((p) => send(p, true), (error) => say("follow-message", geoMessage(error), "error"));
    followWatch = navigator.geolocation.watchPosition(
      (p) => send(p, true),
      (error) => {
        toggle.checked = false;
        say("follow-message", geoMessage(error), "error");
      },
      GEO_OPTIONS,
    );
  });
}

// ---------------------------------------------------------------- start

async function setup({ me, deployment, airspace, sortieStates: states }) {
  sortieStates = states;
  const account = me.role === "officer" && !shareLinkToken();
  if (account) {
    const open = await api("/api/officer/requests/open", { quiet: true });
    if (!open) {
      showRequestPanel();
      return true;
    }
    state.callId = open.id;
  } else {
    state.callId = me.call_id ?? (Number(new URLSearchParams(location.search).get("call")) || null);
  }
  if (!state.callId) {
    showPageError("No call in this link", "This page shows one call; open it from the link the dispatcher shares.");
    return false;
  }
  try {
    const [call, sortie] = await Promise.all([
      api(`/api/calls/${state.callId}`, { quiet: true }),
      api(`/api/calls/${state.callId}/sortie`, { quiet: true }),
    ]);
    state.call = call;
    state.sortie = sortie;
    dfrMap = new DfrMap(document.getElementById("map"), {
      deployment, airspace, zoomControl: false, labels: false, compact: true,
    });
    dfrMap.map.on("dragstart zoomstart", (e) => {
      if (e.hard !== undefined || e.type === "dragstart") state.userMovedMapAt = Date.now();
    });
  } catch (error) {
    showPageError("Cannot load this call", error.detail || String(error), { retry: () => location.reload() });
    return false;
  }
  renderCall();
  renderStatus();
  try {
    const stations = await api("/api/stations", { quiet: true });
    const drone = state.sortie && stations.map((s) => s.drone).find((d) => d.id === state.sortie.drone_id);
    if (drone) state.drone = drone;
  } catch {
    // telemetry arrives over the socket
  }
  renderMap();
  renderDistances();
  updateVideo();
  // An officer account's follow me reads the position itself (one watch at a time).
  if (account) startFollow();
  else watchMyPosition();

  const box = document.getElementById("video-box");
  const fit = document.getElementById("fit-toggle");
  fit.addEventListener("click", () => {
    box.dataset.fit = box.dataset.fit === "cover" ? "contain" : "cover";
    fit.textContent = box.dataset.fit === "cover" ? "Whole frame" : "Fill screen";
  });
  const mapBox = document.getElementById("map-box");
  document.getElementById("map-size").addEventListener("click", () => {
    mapBox.dataset.size = mapBox.dataset.size === "small" ? "large" : "small";
    state.userMovedMapAt = 0;
    setTimeout(() => {
      dfrMap.map.invalidateSize();
      fitMap();
    }, 50);
  });
  setInterval(renderStatus, 1000);
}

window.dfrOfficer = { state, player: null, follow: null };
startConsole({
  shareLink: true,
  airspace: true,
  setup,
  onEvent: { telemetry: onTelemetry, sortie: onSortie, call: onCall, streams: onStreams },
});
