// The RTCC wall: every live stream in a grid, labelled with its drone and call; streams
// join as drones launch and leave when their video ends. Beside each call's drone, the
// fixed cameras whose view covers the call's scene (nearest first, from the server).

import { api } from "/static/api.js";
import { startConsole } from "/static/console.js";
import { h } from "/static/dom.js";
import { chip, droneState } from "/static/format.js";
import { playCamera, playWhep } from "/static/video.js";

const state = {
  calls: new Map(),
  drones: new Map(),
  stations: new Map(),
  tiles: new Map(), // stream id → {element, player, stream}
  callCameras: new Map(), // call id → the cameras covering it (GET /api/calls/{id}/cameras)
  cameraTiles: new Map(), // camera stream id → {element, player, callId}
};

function layout() {
  const wall = document.getElementById("wall");
  const n = state.tiles.size + state.cameraTiles.size;
  // As square a grid as the count allows, so every stream stays visible without scrolling.
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.max(1, Math.ceil(n / cols));
  wall.style.setProperty("--cols", cols);
  wall.style.setProperty("--rows", rows);
  wall.dataset.count = n;
  document.getElementById("wall-empty").classList.toggle("hidden", n > 0);
  document.getElementById("stream-count").textContent = n ? `${n} live stream${n === 1 ? "" : "s"}` : "";
}

function metres(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

function addCameraTile(camera, callId) {
  const video = h("video", { muted: true, playsinline: true, autoplay: true });
  const status = h("div", { class: "video-state" }, "Connecting…");
  const box = h("div", { class: "video-box", "data-state": "connecting" }, video, status);
  const label = h("figcaption", { class: "tile-label" },
    h("div", { class: "tile-title" },
      h("span", { class: "cam-dot" }, "CAM"), " ",
      h("strong", { class: "camera-name" }, camera.name),
      h("span", { class: "muted camera-distance" }, ` · ${metres(camera.distance_m)} from the scene`)),
    h("div", { class: "tile-call" }, `Call #${callId} · fixed camera ${camera.id}`));
  const element = h("figure", {
    class: "wall-tile camera-tile", "data-stream-id": camera.stream_id, "data-camera-id": camera.id,
    "data-call-id": String(callId),
  }, label, box);
  const player = playCamera(video, camera.whep_url, box, status);
  state.cameraTiles.set(camera.stream_id, { element, player, callId });
  return element;
}

function removeCameraTile(streamId) {
  const tile = state.cameraTiles.get(streamId);
  if (!tile) return;
  tile.player.stop();
  tile.element.remove();
  state.cameraTiles.delete(streamId);
}

/** Camera tiles for the calls the drones on the wall serve, each right after its drone. */
function placeCameras() {
  const wanted = new Map(); // camera stream id → [camera, call id, drone tile]
  for (const tile of state.tiles.values()) {
    const callId = tile.stream.call_id != null ? Number(tile.stream.call_id) : null;
    const cameras = callId != null ? state.callCameras.get(callId) : null;
    for (const camera of cameras || []) {
      if (!wanted.has(camera.stream_id)) wanted.set(camera.stream_id, [camera, callId, tile]);
    }
  }
  for (const id of [...state.cameraTiles.keys()]) {
    const tile = state.cameraTiles.get(id);
    if (!wanted.has(id) || wanted.get(id)[1] !== tile.callId) removeCameraTile(id);
  }
  for (const droneTile of state.tiles.values()) {
    let after = droneTile.element;
    for (const [streamId, [camera, callId, tile]] of wanted) {
      if (tile !== droneTile) continue;
      const element = state.cameraTiles.get(streamId)?.element || addCameraTile(camera, callId);
      after.after(element);
      after = element;
    }
  }
  layout();
}

async function loadCameras(callId) {
  if (state.callCameras.has(callId)) return;
  state.callCameras.set(callId, []); // asked once per call
  try {
    state.callCameras.set(callId, await api(`/api/calls/${callId}/cameras`, { quiet: true }));
  } catch {
    state.callCameras.delete(callId); // asked again with the next stream list
    return;
  }
  placeCameras();
}

function labelFor(stream) {
  const call = stream.call_id != null ? state.calls.get(Number(stream.call_id)) : null;
  const drone = state.drones.get(stream.drone_id);
  const station = state.stations.get(stream.station_id);
  return h("figcaption", { class: "tile-label" },
    h("div", { class: "tile-title" },
      h("span", { class: "live-dot" }, "LIVE"), " ",
      h("strong", {}, stream.drone_id || stream.stream_id),
      station ? h("span", { class: "muted" }, ` · ${station.name}`) : null,
      drone ? h("span", { class: "tile-state" }, chip(droneState(drone))) : null),
    h("div", { class: "tile-call" },
      call ? [h("span", { class: `prio prio-${call.priority}` }, `P${call.priority}`), ` Call #${call.id} · ${call.summary || ""}`]
        : stream.call_id != null ? `Call #${stream.call_id}` : "No call"));
}

function addTile(stream) {
  const video = h("video", { muted: true, playsinline: true, autoplay: true });
  const status = h("div", { class: "video-state" }, "Connecting…");
  const box = h("div", { class: "video-box", "data-state": "connecting" }, video, status);
  const element = h("figure", { class: "wall-tile", "data-stream-id": stream.stream_id, "data-drone-id": stream.drone_id || "" },
    labelFor(stream), box);
  document.getElementById("wall").append(element);
  const player = playWhep(video, stream.whep_url, {
    onState: (s) => {
      box.dataset.state = s;
      status.textContent = { connecting: "Connecting…", reconnecting: "Video interrupted — retrying…", ended: "Video ended" }[s] || "";
    },
  });
  state.tiles.set(stream.stream_id, { element, player, stream, box });
}

function removeTile(streamId) {
  const tile = state.tiles.get(streamId);
  if (!tile) return;
  tile.player.stop();
  tile.element.remove();
  state.tiles.delete(streamId);
}

function relabel() {
  for (const tile of state.tiles.values()) {
    tile.element.querySelector(".tile-label").replaceWith(labelFor(tile.stream));
  }
}

/** The server's stream list, sent on connect and whenever a sortie starts or ends. */
function onStreams({ streams = [] }) {
  const ids = new Set(streams.map((s) => s.stream_id));
  for (const id of [...state.tiles.keys()]) if (!ids.has(id)) removeTile(id);
  for (const stream of streams) {
    const known = state.tiles.get(stream.stream_id);
    if (!known) addTile(stream);
    else known.stream = stream;
    if (stream.call_id != null) loadCameras(Number(stream.call_id));
  }
  placeCameras();
  relabel();
}

function onTelemetry({ drones = [] }) {
  let changed = false;
  for (const d of drones) {
    const before = state.drones.get(d.id);
    if (!before || droneState(before) !== droneState(d)) changed = true;
    state.drones.set(d.id, d);
  }
  if (changed) relabel();
}

function onCall({ call }) {
  const before = state.calls.get(call.id);
  state.calls.set(call.id, call);
  if (before && (before.latitude_deg !== call.latitude_deg || before.longitude_deg !== call.longitude_deg)) {
    state.callCameras.delete(call.id); // the scene moved: other cameras may see it
    loadCameras(call.id);
  }
  relabel();
}

async function setup({ deployment }) {
  for (const s of deployment.stations) state.stations.set(s.id, s);
  const calls = await api("/api/calls").catch(() => []);
  for (const c of calls) state.calls.set(c.id, c);
  layout();
}

startConsole({
  name: "wall",
  title: "The wall",
  setup,
  onEvent: { streams: onStreams, telemetry: onTelemetry, call: onCall },
});
