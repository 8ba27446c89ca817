// The dispatcher console: the call queue, the recommended station with its ETA and route,
// one-click dispatch, live drones and sorties, calls created on the map, officer links,
// what the launch policies did with each call (auto-launched, held, left, expired), and
// the fixed cameras whose view covers the selected call's scene, each with a player.

import { askReason, serverAlert, toast } from "/static/alerts.js";
import { api } from "/static/api.js";
import { startConsole } from "/static/console.js";
import { copyText, escapeHtml, h } from "/static/dom.js";
import {
  chip, clock, droneState, eta, km, pct, remainingEtaS, secondsSince, startAgeTicker, timeOfDay,
} from "/static/format.js";
import { callMarkerHtml, DfrMap } from "/static/map.js";
import { policyNote, secondsLeft, sensorFacts, startCountdowns } from "/static/policy.js";
import { playCamera } from "/static/video.js";

const STATUS_RANK = { new: 0, queued: 1, dispatched: 2, closed: 3 };
// A launch policy sent (or holds) a drone for the call: nobody clicked Send.
const AUTO_OUTCOMES = new Set(["launched", "awaiting_pilot"]);

let canCreate = false;
let canSend = false;
let canShare = false;
let canHoldEvidence = false; // RTCC and admins: keep a sortie's record as evidence
let canHoldBack = false; // admins: keep a flight out of the public flight log

const state = {
  deployment: null,
  stations: new Map(), // station id → {id, name, ...}
  drones: new Map(), // drone id → drone view
  calls: new Map(), // call id → CallOut
  sorties: new Map(), // sortie id → sortie (from the socket or the REST API)
  selected: null, // call id
  recommendation: null, // for the selected call
  recommendationFor: null,
  share: new Map(), // call id → share link
  sending: false,
  zoomToRoute: null, // call id whose recommended route the map should frame once
  holds: new Map(), // sortie id → GET /api/sorties/{id}/holds (null while loading)
  purposes: new Map(), // launch purpose id → label
  categories: { default: "", call_types: {} }, // the public flight log's, by call type
};

let dfrMap = null;
let sortieStates = null; // SortieStates from the server

// ---------------------------------------------------------------- queue

function sortedCalls() {
  const showClosed = document.getElementById("show-closed").checked;
  return [...state.calls.values()]
    .filter((c) => showClosed || c.status !== "closed")
    .sort((a, b) => (STATUS_RANK[a.status] ?? 9) - (STATUS_RANK[b.status] ?? 9)
      || a.priority - b.priority
      || Date.parse(b.created_at) - Date.parse(a.created_at));
}

function sortieForCall(callId) {
  let found = null;
  for (const s of state.sorties.values()) if (s.call_id === callId && (!found || s.id > found.id)) found = s;
  return found;
}

function renderQueue() {
  const list = document.getElementById("call-list");
  const calls = sortedCalls();
  const open = [...state.calls.values()].filter((c) => c.status !== "closed").length;
  document.getElementById("queue-count").textContent = `(${open} open)`;
  if (!calls.length) {
    list.replaceChildren(h("li", { class: "empty muted" }, "No open calls."));
    return;
  }
  list.replaceChildren(...calls.map((call) => {
    const sortie = sortieForCall(call.id);
    const sortieState = sortie && !sortieStates.hasEnded(sortie.state) ? sortie.state : null;
    return h("li", {},
      h("button", {
        class: "call-row", type: "button", "data-call-id": call.id,
        "aria-pressed": call.id === state.selected ? "true" : "false",
        onclick: () => selectCall(call.id),
      },
      h("span", { class: `prio prio-${call.priority}`, title: `priority ${call.priority}` }, `P${call.priority}`),
      h("span", { class: "call-main" },
        h("span", { class: "call-summary" }, call.summary || "(no summary)"),
        h("span", { class: "call-meta" },
          `#${call.id} · ${call.source} · `,
          h("span", { class: "num", "data-since": call.created_at }, clock(secondsSince(call.created_at))))),
      h("span", { class: "call-status" },
        h("span", { class: `chip status-${call.status}` }, call.status),
        sortieState ? chip(sortieState) : null,
        AUTO_OUTCOMES.has(call.policy_outcome)
          ? h("span", { class: "chip policy", title: `launch policy ${call.policy}` }, "auto") : null)));
  }));
}

function renderCallMarkers() {
  const keep = new Set();
  for (const call of state.calls.values()) {
    if (call.status === "closed") continue;
    const key = `call:${call.id}`;
    keep.add(key);
    dfrMap.setMarker(key, [call.latitude_deg, call.longitude_deg], {
      html: callMarkerHtml(call, call.id === state.selected),
      size: [28, 28],
      anchor: [14, 30],
      title: `Call #${call.id}: ${call.summary}`,
      onClick: () => selectCall(call.id),
    });
  }
  for (const key of dfrMap.markerKeys()) {
    if (key.startsWith("call:") && !keep.has(key)) dfrMap.removeMarker(key);
  }
}

// ---------------------------------------------------------------- selected call

async function selectCall(callId) {
  state.selected = callId;
  history.replaceState(null, "", callId ? `#call=${callId}` : "#");
  state.recommendation = null;
  state.recommendationFor = null;
  renderQueue();
  renderCallMarkers();
  renderDetail();
  const call = state.calls.get(callId);
  loadCameras(call ? callId : null);
  if (!call) return;
  dfrMap.map.panInside([call.latitude_deg, call.longitude_deg], { padding: [80, 80] });
  state.zoomToRoute = callId;
  if (call.status === "dispatched") await refreshSortie(callId);
  else await loadRecommendation(callId);
}

// ---------------------------------------------------------------- fixed cameras

// Kept out of the call detail, which is redrawn often: a player there would restart.
const cameras = { callId: null, list: null, players: new Map() }; // stream id → player

function stopCameraPlayers() {
  for (const player of cameras.players.values()) player.stop();
  cameras.players.clear();
}

async function loadCameras(callId) {
  if (cameras.callId !== callId) {
    stopCameraPlayers();
    cameras.callId = callId;
    cameras.list = null;
    renderCameras();
  }
  if (!callId) return;
  let list;
  try {
    list = await api(`/api/calls/${callId}/cameras`, { quiet: true });
  } catch {
    list = [];
  }
  if (cameras.callId !== callId) return;
  if (JSON.stringify(list) === JSON.stringify(cameras.list)) return;
  stopCameraPlayers();
  cameras.list = list;
  renderCameras();
}

function metres(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

function toggleCamera(camera, item, button) {
  const playing = cameras.players.get(camera.stream_id);
  if (playing) {
    playing.stop();
    cameras.players.delete(camera.stream_id);
    item.querySelector(".video-box")?.remove();
    button.textContent = "Play";
    return;
  }
  const video = h("video", { muted: true, playsinline: true, autoplay: true });
  const status = h("div", { class: "video-state" }, "Connecting…");
  const box = h("div", { class: "video-box", "data-state": "connecting" }, video, status);
  item.append(box);
  button.textContent = "Stop";
  cameras.players.set(camera.stream_id, playCamera(video, camera.whep_url, box, status));
}

function renderCameras() {
  const panel = document.getElementById("call-cameras");
  const list = cameras.list;
  panel.classList.toggle("hidden", !cameras.callId || list == null);
  if (!list) return;
  const items = list.map((camera) => {
    const button = h("button", { class: "small", type: "button" }, "Play");
    const item = h("li", { "data-camera-id": camera.id, "data-stream-id": camera.stream_id },
      h("div", { class: "camera-row" },
        h("span", { class: "camera-name" }, h("strong", {}, camera.name),
          h("span", { class: "muted" }, ` · ${metres(camera.distance_m)}`)),
        button));
    button.addEventListener("click", () => toggleCamera(camera, item, button));
    return item;
  });
  panel.replaceChildren(h("h2", {}, "Cameras on the scene"),
    items.length ? h("ol", { class: "camera-list", id: "camera-list" }, ...items)
      : h("p", { class: "muted" }, "No fixed camera sees this call's scene."));
}

async function loadRecommendation(callId) {
  try {
    const rec = await api(`/api/calls/${callId}/recommendation`);
    if (state.selected !== callId) return;
    // Unchanged: keep the buttons in place rather than redraw them under the pointer.
    if (state.recommendationFor === callId && JSON.stringify(rec) === JSON.stringify(state.recommendation)) return;
    state.recommendation = rec;
    state.recommendationFor = callId;
  } catch (error) {
    if (state.selected !== callId) return;
    state.recommendation = { error: error.detail || String(error) };
    state.recommendationFor = callId;
  }
  renderDetail();
}

async function refreshSortie(callId) {
  try {
    const sortie = await api(`/api/calls/${callId}/sortie`, { quiet: true });
    if (sortie) mergeSortie(sortie);
  } catch {
    // the socket brings sortie states anyway
  }
  if (state.selected === callId) renderDetail();
}

function stationName(id) {
  const station = state.stations.get(id);
  return station ? station.name : id;
}

function agencyName(id) {
  const agency = ((state.deployment && state.deployment.agencies) || []).find((a) => a.id === id);
  return agency ? agency.name : id;
}

// Another agency's drone: whose it is and the mutual-aid rule it flies by.
function mutualAidNote(c) {
  if (!c.mutual_aid) return "";
  const rule = c.mutual_aid === "pilot_confirm" ? "held until their pilot confirms" : "launches at once";
  return ` · mutual aid from ${agencyName(c.agency)} (${c.mutual_aid}): ${rule}`;
}

function candidateLine(c) {
  // A drone in the air: dispatching it re-tasks it in flight, from where it is now.
  const flying = c.airborne
    ? ` · in flight${c.retask_from_call_id ? ` (now on call ${c.retask_from_call_id})` : ""}, re-tasked without landing`
    : "";
  return `${km(c.distance_m)} route · battery ${pct(c.battery_needed_pct)}${c.standoff ? " · stand-off" : ""}${flying}${mutualAidNote(c)}`;
}

function sendLabel(c) {
  const verb = c.airborne ? `Re-task ${c.drone_id} (in flight)` : `Send ${stationName(c.station_id)}`;
  return `${verb} — ETA ${eta(c.eta_s)}`;
}

function renderRecommendation(call) {
  const rec = state.recommendationFor === call.id ? state.recommendation : null;
  const box = h("div", { class: "recommendation", id: "recommendation" });
  dfrMap.clearRoutes("rec:");
  if (!rec) {
    box.append(h("p", { class: "muted" }, "Planning routes…"));
    return box;
  }
  if (rec.error) {
    box.append(h("p", { class: "error-text" }, rec.error),
      h("button", { class: "small", onclick: () => loadRecommendation(call.id) }, "Try again"));
    return box;
  }
  const [best, ...alternatives] = rec.candidates;
  if (call.status === "queued") {
    box.append(h("p", { class: "note" },
      "Queued: no drone was free. It is sent automatically when one is, or send one below."));
  }
  if (best) {
    for (const alt of alternatives) dfrMap.showRoute(`rec:${alt.station_id}`, alt.route, "alternative");
    const line = dfrMap.showRoute("rec:best", best.route, "recommended");
    if (line && state.zoomToRoute === call.id) {
      // Show the whole route, near enough to read it, once per selection.
      state.zoomToRoute = null;
      dfrMap.map.fitBounds(line.getBounds().extend([call.latitude_deg, call.longitude_deg]), {
        padding: [90, 90], maxZoom: 15,
      });
    }
    const label = sendLabel(best);
    box.append(
      h("div", { class: "best" },
        h("div", { class: "best-head" }, "Recommended"),
        h("button", {
          class: "go block", id: "send-best", type: "button", disabled: !canSend || state.sending,
          "data-station-id": best.station_id, "data-eta-s": best.eta_s, "data-airborne": String(best.airborne),
          "data-agency": best.agency || "", "data-mutual-aid": best.mutual_aid || "",
          onclick: () => send(call.id, best.station_id),
        }, label),
        h("div", { class: "muted" }, `${best.drone_id} · ${candidateLine(best)}`),
        best.standoff
          ? h("p", { class: "note" }, "The scene is in a no-fly zone: the drone holds at the nearest permitted stand-off point with its camera on the scene.")
          : null),
    );
  } else {
    box.append(h("p", { class: "note" }, "No station can serve this call now."));
    if (canSend && call.status === "new") {
      box.append(h("button", { class: "warn block", type: "button", onclick: () => send(call.id, null) },
        "Queue for the next free drone"));
    }
  }
  if (alternatives.length) {
    box.append(h("h3", { class: "sub" }, "Alternatives"), h("ul", { class: "alt-list", id: "alternatives" },
      ...alternatives.map((c) => h("li", {
        "data-station-id": c.station_id, "data-agency": c.agency || "", "data-mutual-aid": c.mutual_aid || "",
      },
        h("span", {},
          h("strong", {}, c.airborne ? `${c.drone_id} (in flight)` : stationName(c.station_id)), ` — ETA ${eta(c.eta_s)}`,
          h("br"), h("span", { class: "muted" }, candidateLine(c))),
        h("button", {
          class: "small", type: "button", disabled: !canSend || state.sending,
          onclick: () => send(call.id, c.station_id),
        }, "Send")))));
  }
  if (rec.excluded.length) {
    box.append(h("h3", { class: "sub" }, "Not available"), h("ul", { class: "excluded-list", id: "excluded" },
      ...rec.excluded.map((e) => h("li", { "data-station-id": e.station_id },
        h("strong", {}, stationName(e.station_id)), ` (${e.drone_id}): `, e.reason))));
  }
  return box;
}

function renderSortie(call, sortie) {
  const box = h("div", { class: "sortie", id: "sortie" });
  if (!sortie) {
    box.append(h("p", { class: "muted" }, "Waiting for the sortie…"));
    return box;
  }
  const remaining = remainingEtaS(sortie);
  const flying = ["launching", "en_route"].includes(sortie.state);
  box.append(
    h("div", { class: "sortie-head" },
      h("span", { id: "sortie-state", class: "big-state" }, chip(sortie.state)),
      flying && remaining != null
        ? h("span", { class: "eta-big num", id: "sortie-eta" }, remaining > 0 ? `ETA ${clock(remaining)}` : "arriving")
        : null),
    h("div", {}, h("strong", {}, stationName(sortie.station_id)), ` · ${sortie.drone_id} · sortie #${sortie.id}`),
    h("div", { class: "muted", id: "sortie-launched-by" },
      sortie.launched_by ? `launched by ${sortie.launched_by} at ${timeOfDay(sortie.launched_at)}`
        : sortie.created_by ? `sent by ${sortie.created_by}` : ""),
  );
  if (sortie.state === "awaiting_pilot" && sortie.policy && sortie.confirm_expires_at) {
    const left = secondsLeft(sortie.confirm_expires_at);
    box.append(h("p", { class: "note" }, `Held by policy ${sortie.policy}: the pilot has `,
      h("span", { class: "num", "data-countdown-until": sortie.confirm_expires_at }, left == null ? "" : `${left} s`),
      " to confirm the launch."));
  } else if (sortie.state === "awaiting_pilot") {
    box.append(h("p", { class: "note" }, "Waiting for the pilot in command to confirm the launch."));
  }
  if (sortie.events && sortie.events.length) {
    box.append(h("ol", { class: "timeline" }, ...sortie.events.map((e) => h("li", {},
      h("span", { class: "num" }, timeOfDay(e.at)), " ", chip(e.state),
      e.cause ? h("span", { class: "muted" }, ` ${e.cause}`) : null))));
  }
  return box;
}

// ---------------------------------------------------------------- holds

const HOLDS = {
  evidence: {
    path: "evidence-hold", held: "held_as_evidence",
    on: "Held as evidence", off: "Not held as evidence",
    place: "Hold as evidence…", lift: "Lift evidence hold…",
    placeTitle: "Hold as evidence?", liftTitle: "Lift the evidence hold?",
    placeText: "The sortie's track and video are kept as evidence. Why? (kept in the audit log)",
    liftText: "Why is the evidence hold lifted? (kept in the audit log)",
  },
  publication: {
    path: "publication-hold", held: "held_from_public_log",
    on: "Held back from the public flight log", off: "In the public flight log once old enough",
    place: "Hold back from public log…", lift: "Publish in public log…",
    placeTitle: "Hold back from the public log?", liftTitle: "Publish in the public log?",
    placeText: "The flight is left out of the public flight log, which counts it as held back. Why? (kept in the audit log)",
    liftText: "The flight appears in the public flight log again. Why? (kept in the audit log)",
  },
};

async function loadHolds(sortieId) {
  state.holds.set(sortieId, null);
  try {
    state.holds.set(sortieId, await api(`/api/sorties/${sortieId}/holds`, { quiet: true }));
  } catch (error) {
    state.holds.set(sortieId, { error: error.detail || String(error) });
  }
  if (sortieForCall(state.selected)?.id === sortieId) renderDetail();
}

async function changeHold(sortieId, kind, held) {
  const spec = HOLDS[kind];
  const reason = held
    ? await askReason(spec.liftTitle, spec.liftText, "Lift")
    : await askReason(spec.placeTitle, spec.placeText, "Hold");
  if (!reason) return;
  try {
    await api(`/api/sorties/${sortieId}/${spec.path}${held ? "/lift" : ""}`, { method: "POST", body: { reason } });
    toast(`Sortie #${sortieId}: ${held ? spec.off : spec.on}`, "ok");
  } catch {
    // shown by api()
  }
  await loadHolds(sortieId);
}

function holdRow(sortie, holds, kind) {
  const spec = HOLDS[kind];
  const held = holds[spec.held];
  const may = kind === "evidence" ? canHoldEvidence : canHoldBack;
  const last = holds.holds.filter((x) => x.kind === `${kind}_hold`).at(-1);
  let note = null;
  if (last && held) note = `by ${last.placed_by} at ${timeOfDay(last.placed_at)}: ${last.reason}`;
  else if (last) note = `lifted by ${last.lifted_by} at ${timeOfDay(last.lifted_at)}: ${last.lift_reason}`;
  return h("div", { class: "hold-row", "data-hold": kind, "data-held": held ? "true" : "false" },
    h("div", {}, h("strong", {}, held ? spec.on : spec.off), note ? h("div", { class: "muted" }, note) : null),
    may ? h("button", {
      class: held ? "small" : "small warn", type: "button", "data-hold-action": held ? "lift" : "place",
      onclick: () => changeHold(sortie.id, kind, held),
    }, held ? spec.lift : spec.place) : null);
}

function renderHolds(sortie) {
  if (!sortie || !(canHoldEvidence || canHoldBack)) return null;
  if (!state.holds.has(sortie.id)) loadHolds(sortie.id);
  const holds = state.holds.get(sortie.id);
  const box = h("div", { class: "holds", id: "holds", "data-sortie-id": sortie.id }, h("h3", { class: "sub" }, "Records"));
  if (!holds) box.append(h("p", { class: "muted" }, "Loading…"));
  else if (holds.error) box.append(h("p", { class: "error-text" }, holds.error));
  else box.append(holdRow(sortie, holds, "evidence"), holdRow(sortie, holds, "publication"));
  return box;
}

function renderShare(call) {
  if (!canShare || call.status === "closed") return null;
  const link = state.share.get(call.id);
  const box = h("div", { class: "share", id: "share" });
  if (!link) {
    box.append(h("button", {
      class: "primary block", type: "button", id: "share-button", onclick: () => share(call.id),
    }, "Share with officer"));
    return box;
  }
  const field = h("input", { id: "share-url", readonly: true, value: link.url, "aria-label": "Officer link" });
  field.addEventListener("focus", () => field.select());
  box.append(
    h("label", { for: "share-url" }, "Officer link"),
    h("div", { class: "share-row" }, field,
      h("button", {
        class: "small", type: "button", id: "copy-share",
        onclick: async () => toast(await copyText(link.url, field) ? "Officer link copied" : "Select the link and copy it", "ok"),
      }, "Copy"),
      h("a", { class: "button small", href: link.url, target: "_blank", rel: "noopener" }, "Open"),
      h("button", {
        class: "small danger", type: "button", id: "revoke-share", onclick: () => revokeShare(call.id, link.id),
      }, "Revoke")),
    h("div", { class: "muted" },
      `Valid for ${Math.round(link.expires_in_s / 3600)} h or until the call is closed; it opens this call only.`),
  );
  return box;
}

function renderDetail() {
  const panel = document.getElementById("call-detail");
  const call = state.calls.get(state.selected);
  if (!call) {
    dfrMap.clearRoutes("rec:");
    panel.replaceChildren(h("h2", {}, "Selected call"),
      h("p", { class: "muted" }, state.selected ? "This call is no longer listed." : "Select a call in the queue or on the map."));
    return;
  }
  const sortie = sortieForCall(call.id);
  const header = h("div", { class: "detail-head" },
    h("span", { class: `prio prio-${call.priority}` }, `P${call.priority}`),
    h("h3", {}, `Call #${call.id}`),
    h("span", { class: `chip status-${call.status}`, id: "call-status" }, call.status));
  const purpose = call.purpose ? state.purposes.get(call.purpose) || call.purpose : null;
  const body = [
    h("h2", {}, "Selected call"),
    header,
    h("p", { class: "summary" }, call.summary || "(no summary)"),
    purpose ? h("p", { class: "purpose", id: "call-purpose" }, `No call: flown for ${purpose.toLowerCase()}`)
      : h("p", { class: "muted", id: "call-type" }, `Type: ${call.call_type || "not given"} · public flight log: `,
        state.categories.call_types[call.call_type] || state.categories.default),
    h("p", { class: "muted" },
      `${call.source}${call.external_id ? ` ${call.external_id}` : ""} · received ${timeOfDay(call.created_at)} · `,
      h("span", { class: "num", "data-since": call.created_at }, clock(secondsSince(call.created_at))), " ago"),
    sensorFacts(call) ? h("p", { class: "muted", id: "call-sensor" }, `Gunshot sensor: ${sensorFacts(call)}`) : null,
    policyNote(call),
  ];
  if (call.status === "dispatched" || (sortie && call.status !== "closed" && call.status !== "new" && call.status !== "queued")) {
    dfrMap.clearRoutes("rec:");
    body.push(renderSortie(call, sortie), renderHolds(sortie));
  } else if (call.status !== "closed") {
    body.push(renderRecommendation(call));
  } else {
    dfrMap.clearRoutes("rec:");
    if (sortie) body.push(renderSortie(call, sortie), renderHolds(sortie));
  }
  body.push(renderShare(call));
  if (canSend && call.status !== "closed") {
    body.push(h("label", { class: "overwatch-toggle", title: "A relief drone launches before each one must leave, until the call is closed" },
      h("input", { type: "checkbox", id: "call-overwatch", checked: call.overwatch,
        onchange: (event) => setOverwatch(call.id, event.target) }),
      " Keep watched (overwatch)"));
    body.push(h("div", { class: "detail-actions" },
      h("button", { class: "small", type: "button", id: "close-call", onclick: () => closeCall(call.id) }, "Close call")));
  }
  panel.replaceChildren(...body.filter(Boolean));
}

// ---------------------------------------------------------------- actions

async function send(callId, stationId) {
  if (state.sending) return;
  state.sending = true;
  renderDetail();
  try {
    const result = await api(`/api/calls/${callId}/dispatch`, {
      method: "POST", body: stationId ? { station_id: stationId } : {},
    });
    state.calls.set(result.call.id, result.call);
    if (result.sortie) mergeSortie(result.sortie);
    if (result.retask_failed) toast(`${result.retask_failed}; the next drone on its dock was sent instead`, "warning");
    if (result.queued) toast(`Call #${callId} queued: no drone free yet`, "info");
    else if (result.mutual_aid === "pilot_confirm") {
      toast(`Asked ${stationName(result.station_id)} (mutual aid) for call #${callId}: held until its agency's pilot confirms`, "info");
    } else toast(`Sent ${stationName(result.station_id)} to call #${callId} — ETA ${eta(result.eta_s)}`, "ok");
  } catch (error) {
    if (error.status === 409) {
      // The drone was taken meanwhile: show the fresh recommendation.
      await loadRecommendation(callId);
    }
  } finally {
    state.sending = false;
    renderQueue();
    renderCallMarkers();
    renderDetail();
  }
}

async function share(callId) {
  try {
    const link = await api(`/api/calls/${callId}/share`, { method: "POST" });
    state.share.set(callId, link);
    renderDetail();
    const field = document.getElementById("share-url");
    if (field) {
      field.focus();
      field.select();
    }
  } catch {
    // shown by api()
  }
}

async function revokeShare(callId, linkId) {
  try {
    await api(`/api/share-links/${encodeURIComponent(linkId)}`, { method: "DELETE" });
    state.share.delete(callId);
    renderDetail();
    toast("Officer link revoked: it stops working now", "ok");
  } catch {
    // shown by api()
  }
}

async function closeCall(callId) {
  try {
    const call = await api(`/api/calls/${callId}/close`, { method: "POST" });
    state.calls.set(call.id, call);
    renderQueue();
    renderCallMarkers();
    renderDetail();
  } catch {
    // shown by api()
  }
}

async function setOverwatch(callId, box) {
  box.disabled = true;
  try {
    const call = await api(`/api/calls/${callId}/overwatch`, { method: "PUT", body: { overwatch: box.checked } });
    state.calls.set(call.id, call);
    toast(call.overwatch ? `Call #${callId} is kept watched: a relief goes before each drone must leave`
      : `Call #${callId} is no longer kept watched`, "info");
  } catch {
    box.checked = !box.checked; // shown by api()
  } finally {
    box.disabled = false;
  }
}

function openCreateForm(latlng) {
  if (!canCreate) return;
  const form = document.createElement("form");
  form.className = "call-form";
  form.id = "new-call-form";
  form.innerHTML = `
    <strong>New call</strong>
    <span class="muted mono">${latlng.lat.toFixed(5)}, ${latlng.lng.toFixed(5)}</span>
    <label for="new-call-priority">Priority</label>
    <select id="new-call-priority" name="priority">
      <option value="1">P1 — most urgent</option><option value="2">P2</option>
      <option value="3">P3</option><option value="4">P4</option><option value="5">P5</option>
    </select>
    <label for="new-call-type">Type</label>
    <select id="new-call-type" name="callType">
      <option value="">(not given)</option>${Object.keys(state.categories.call_types).sort()
    .map((t) => `<option value="${escapeHtml(t)}">${escapeHtml(t.replace(/_/g, " "))}</option>`).join("")}
    </select>
    <label for="new-call-summary">Summary</label>
    <input id="new-call-summary" name="summary" maxlength="500" placeholder="e.g. shots fired, 2 subjects" autocomplete="off">
    <label class="overwatch-toggle"><input type="checkbox" id="new-call-overwatch" name="overwatch"> Keep watched (overwatch)</label>
    <div class="row"><button type="submit" class="primary" id="new-call-create">Create call</button>
    <button type="button" class="small" data-action="cancel">Cancel</button></div>`;
  const popup = L.popup({ minWidth: 260, maxWidth: 340, autoPanPadding: [40, 40] })
    .setLatLng(latlng).setContent(form).openOn(dfrMap.map);
  form.querySelector("[data-action=cancel]").addEventListener("click", () => dfrMap.map.closePopup(popup));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("#new-call-create");
    button.disabled = true;
    try {
      const call = await api("/api/calls", {
        method: "POST",
        body: {
          latitude_deg: latlng.lat, longitude_deg: latlng.lng, source: "map",
          priority: Number(form.priority.value), summary: form.summary.value.trim(),
          ...(form.callType.value ? { call_type: form.callType.value } : {}),
          overwatch: form.overwatch.checked,
        },
      });
      dfrMap.map.closePopup(popup);
      state.calls.set(call.id, call);
      await selectCall(call.id);
    } catch {
      button.disabled = false;
    }
  });
  setTimeout(() => form.querySelector("#new-call-summary").focus(), 0);
}

// ---------------------------------------------------------------- drones and sorties

function mergeSortie(sortie) {
  const known = state.sorties.get(sortie.id) || {};
  // The socket's messages carry launched_by/at; the REST records carry the events.
  state.sorties.set(sortie.id, { ...known, ...sortie, events: sortie.events || known.events });
}

function renderFleet() {
  const list = document.getElementById("fleet-list");
  const drones = [...state.drones.values()];
  list.replaceChildren(...drones.map((d) => {
    const s = droneState(d);
    const alt = d.in_air && d.relative_altitude_m != null ? ` · ${Math.round(d.relative_altitude_m)} m` : "";
    const speed = d.in_air && d.ground_speed_m_s != null ? ` · ${Math.round(d.ground_speed_m_s)} m/s` : "";
    return h("li", { "data-drone-id": d.id, "data-state": s },
      h("div", { class: "fleet-head" }, h("strong", {}, d.id), chip(s)),
      h("div", { class: "muted" },
        `${stationName(d.station_id || stationOfDrone(d.id))} · battery ${pct(d.battery_pct)}${alt}${speed}`),
      d.call_id ? h("button", { class: "small", type: "button", onclick: () => selectCall(d.call_id) }, `Call #${d.call_id}`) : null,
      d.reason && !d.in_air ? h("div", { class: "reason" }, d.reason) : null);
  }));
}

function stationOfDrone(droneId) {
  for (const s of state.stations.values()) if (s.drone_id === droneId || (s.drone && s.drone.id === droneId)) return s.id;
  return "";
}

function renderSortieRoutes() {
  const active = new Set();
  for (const sortie of state.sorties.values()) {
    if (sortieStates.hasEnded(sortie.state) || !sortie.route) continue;
    active.add(`sortie:${sortie.id}`);
    if (!dfrMap.routes.has(`sortie:${sortie.id}`)) dfrMap.showRoute(`sortie:${sortie.id}`, sortie.route, "sortie");
  }
  for (const key of [...dfrMap.routes.keys()]) {
    if (key.startsWith("sortie:") && !active.has(key)) dfrMap.clearRoute(key);
  }
}

let fleetRenderPending = false;
function onTelemetry(drones) {
  for (const d of drones) state.drones.set(d.id, d);
  dfrMap.updateDrones(drones);
  if (!fleetRenderPending) {
    fleetRenderPending = true;
    setTimeout(() => {
      fleetRenderPending = false;
      renderFleet();
    }, 500);
  }
}

function onSortie({ sortie }) {
  const before = state.sorties.get(sortie.id);
  mergeSortie(sortie);
  renderSortieRoutes();
  renderQueue();
  if (sortie.call_id === state.selected) {
    if (!before || before.state !== sortie.state) refreshSortie(sortie.call_id);
    renderDetail();
  }
}

function onCall({ call }) {
  const before = state.calls.get(call.id);
  const isNew = !before;
  state.calls.set(call.id, call);
  if (isNew && call.priority <= 2 && call.source !== "map") {
    toast(`New P${call.priority} ${call.source} call #${call.id}: ${call.summary}`, "error");
  }
  if (call.policy_outcome === "launched" && before?.policy_outcome !== "launched") {
    toast(`Call #${call.id}: drone launched by policy ${call.policy}`, "info");
  }
  renderQueue();
  renderCallMarkers();
  if (call.id === state.selected) {
    if (call.status !== "dispatched" && state.recommendationFor !== call.id) loadRecommendation(call.id);
    if (before && (before.latitude_deg !== call.latitude_deg || before.longitude_deg !== call.longitude_deg)) {
      loadCameras(call.id); // the scene moved: other cameras may see it
    }
    renderDetail();
  }
}

function onAlert(message) {
  const { droneId, text } = serverAlert(message);
  toast(droneId ? `${droneId}: ${text}` : text, "error");
}

// ---------------------------------------------------------------- start

async function setup({ session, deployment, airspace, sortieStates: states }) {
  canCreate = ["dispatcher", "pilot", "admin"].includes(session.role);
  canSend = ["dispatcher", "pilot"].includes(session.role);
  canShare = ["dispatcher", "pilot", "rtcc"].includes(session.role);
  canHoldEvidence = ["rtcc", "admin"].includes(session.role);
  canHoldBack = session.role === "admin";
  for (const p of deployment.launch_purposes || []) state.purposes.set(p.id, p.label);
  state.categories = deployment.public_categories || state.categories;
  sortieStates = states;
  state.deployment = deployment;
  for (const s of deployment.stations) state.stations.set(s.id, s);
  if (!canCreate) document.getElementById("create-hint").textContent = "Your role views calls only.";

  dfrMap = new DfrMap(document.getElementById("map"), { deployment, airspace });
  window.dfrMap = dfrMap.map; // for people debugging at the console, and the browser tests
  dfrMap.map.on("click", (event) => openCreateForm(event.latlng));

  const [calls, stations, sorties] = await Promise.all([
    api("/api/calls?status=new&status=queued&status=dispatched").catch(() => []), // the open ones
    api("/api/stations").catch(() => []),
    api("/api/sorties?active=true", { quiet: true }).catch(() => []),
  ]);
  for (const c of calls) state.calls.set(c.id, c);
  for (const s of sorties) mergeSortie(s);
  onTelemetry(stations.map((s) => ({ ...s.drone, station_id: s.drone.station_id || s.id })));
  renderFleet();
  renderSortieRoutes();
  renderQueue();
  renderCallMarkers();

  document.getElementById("show-closed").addEventListener("change", renderQueue);
  startAgeTicker();
  startCountdowns();
  // ETA countdowns in the detail panel.
  setInterval(() => {
    const call = state.calls.get(state.selected);
    const sortie = call && sortieForCall(call.id);
    const box = document.getElementById("sortie-eta");
    if (box && sortie) {
      const remaining = remainingEtaS(sortie);
      box.textContent = remaining > 0 ? `ETA ${clock(remaining)}` : "arriving";
    }
  }, 1000);
  // A recommendation goes stale as drones move: refresh the selected one.
  setInterval(() => {
    const call = state.calls.get(state.selected);
    if (call && (call.status === "new" || call.status === "queued") && !state.sending) loadRecommendation(call.id);
  }, 15000);

  const match = /call=(\d+)/.exec(location.hash);
  if (match && state.calls.has(Number(match[1]))) selectCall(Number(match[1]));
  else renderDetail();
}

startConsole({
  name: "dispatcher",
  title: "The dispatcher console",
  airspace: true,
  setup,
  onEvent: {
    telemetry: (message) => onTelemetry(message.drones || []),
    sortie: onSortie,
    call: onCall,
    alert: onAlert,
  },
});
