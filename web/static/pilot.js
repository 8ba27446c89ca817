// The pilot station console: every station and drone, launch, commands, live video,
// alerts, launches waiting for the pilot (a launch policy's with its countdown), the
// drones a launch policy launched with no click (with Abort), who launched each sortie,
// and the ETA figures each drone is ranked by (its own once calibrated from its flights).

import { AlertBanner, confirmAction, serverAlert, toast } from "/static/alerts.js";
import { api } from "/static/api.js";
import { startConsole } from "/static/console.js";
import { h } from "/static/dom.js";
import {
  chip, clock, droneState, eta, pct, secondsSince, startAgeTicker, stateText, timeOfDay,
} from "/static/format.js";
import { DfrMap, SCENE_HTML } from "/static/map.js";
import { launchedByPolicy, secondsLeft, sensorFacts, startCountdowns } from "/static/policy.js";
import { playWhep } from "/static/video.js";

const BATTERY_LOW_PCT = 30;
const BATTERY_CRITICAL_PCT = 20;
const STATUS_ALERT = /fence|fail|critical|emergency|battery|lost|breach/i;
const SERVER_ALERT_KEPT_MS = 10 * 60 * 1000;

const DESTRUCTIVE = {
  return: {
    title: "Return to the dock?",
    text: "The drone leaves the scene and flies home; the scene is no longer watched.",
    label: "Return",
  },
  land: {
    title: "Land here?",
    text: "The drone descends and lands where it is now, away from its dock.",
    label: "Land now",
  },
  abort: {
    title: "Abort the sortie?",
    text: "The sortie ends: a drone on the ground stays on its dock; an airborne drone returns home.",
    label: "Abort sortie",
  },
};

let canCommand = false;
let canConfirm = false;
let myAgencies = null; // the agencies this user sees (GET /api/me), null: all

const state = {
  deployment: null,
  stations: new Map(), // id → deployment station
  drones: new Map(), // drone id → drone view
  calls: new Map(),
  sorties: new Map(),
  selected: null, // drone id
  mapMode: null, // null | "launch-point" | "reposition"
  launchPoint: null,
  purposes: new Map(), // purpose id → label (GET /api/deployment's launch_purposes)
  streams: [],
  player: null,
  playerStream: null,
  serverAlerts: [], // {key, text, level, at}
  etaCalibrations: new Map(), // drone id → GET /api/drones/{id}/eta-calibration
  policies: new Map(), // launch policy name → the deployment's description of it
};

let dfrMap = null;
let sortieStates = null; // SortieStates from the server
let alertBanner = null;

/** Why a flight without a call flies, as the deployment names it; null for a call. */
function purposeOf(callId, sortie = null) {
  const purpose = sortie?.purpose || state.calls.get(callId)?.purpose;
  return purpose ? state.purposes.get(purpose) || purpose : null;
}

// ---------------------------------------------------------------- stations

function stat(label, value, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value));
}

function batteryBar(value) {
  const level = value == null ? 0 : Math.max(0, Math.min(100, value));
  const cls = value == null ? "" : value < BATTERY_CRITICAL_PCT ? "critical" : value < BATTERY_LOW_PCT ? "low" : "";
  return h("span", { class: `battery ${cls}` },
    h("span", { class: "battery-bar" }, h("span", { class: "battery-fill", style: `width:${level}%` })),
    h("span", { class: "num" }, pct(value)));
}

/** The GPS fix in a few letters: MAVLink's GPS_FIX_TYPE number or MAVSDK's name (FIX_3D...). */
function gpsFix(fix) {
  if (typeof fix === "number") {
    return ["no GPS", "no fix", "2D", "3D", "DGPS", "RTK float", "RTK", "static", "PPP"][fix] || String(fix);
  }
  const text = String(fix).toUpperCase();
  if (text.includes("RTK")) return text.includes("FLOAT") ? "RTK float" : "RTK";
  if (text.includes("3D")) return "3D";
  if (text.includes("2D")) return "2D";
  if (text.includes("NO")) return "no fix";
  return text.toLowerCase().replace(/_/g, " ");
}

/** Which ETA figures rank the drone: its own (from how many flights) or the deployment's. */
function etaLine(calibration) {
  if (!calibration) return null;
  const c = calibration;
  const source = c.calibrated
    ? `calibrated from ${c.flights} flight${c.flights === 1 ? "" : "s"}`
    : `deployment default (${c.samples} of ${c.calibrate_after_flights} flights)`;
  return h("div", {
    class: "eta-line", "data-eta-calibrated": String(c.calibrated),
    title: "Launch latency (dispatch to takeoff) and acceleration the ETA model ranks this drone by",
  },
  h("span", { class: "stat-label" }, "ETA model"), " ",
  h("span", { class: "eta-source" }, source),
  h("span", { class: "num" }, ` · launch ${c.launch_latency_s.toFixed(1)} s · accel ${c.horizontal_accel_m_s2.toFixed(2)} m/s²`));
}

function renderStations() {
  const box = document.getElementById("station-cards");
  const cards = [...state.stations.values()].map((station) => {
    const d = state.drones.get(station.drone_id);
    const s = droneState(d);
    const selected = d && d.id === state.selected;
    const fix = d ? d.gps_fix_type ?? d.gps_fix : null;
    const gps = fix != null ? `${gpsFix(fix)} · ${d.satellites ?? "?"}` : "—";
    const card = h("div", {
      class: `station-card${selected ? " selected" : ""}`, role: "button", tabindex: 0,
      "aria-pressed": selected ? "true" : "false", "data-station-id": station.id,
      "data-drone-id": station.drone_id, "data-state": s,
      onclick: () => selectDrone(station.drone_id),
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          selectDrone(station.drone_id);
        }
      },
    },
    h("div", { class: "card-head" },
      h("div", {}, h("strong", { class: "station-name" }, station.name), h("div", { class: "muted" }, station.drone_id)),
      chip(s)),
    d ? h("div", { class: "stats" },
      stat("Battery", batteryBar(d.battery_pct)),
      stat("GPS · sats", gps),
      stat("Mode", d.flight_mode || "—"),
      stat("Armed", d.armed ? "ARMED" : "disarmed", d.armed ? "armed" : ""),
      stat("Link", d.link || (d.online ? "up" : "down"), d.online ? "" : "bad"),
      stat("Dock", stateText(d.dock_state))) : h("p", { class: "muted" }, "No telemetry yet"),
    d && d.in_air ? h("div", { class: "flight-line num" },
      `${Math.round(d.relative_altitude_m ?? 0)} m · ${Math.round(d.ground_speed_m_s ?? 0)} m/s · heading ${Math.round(d.heading_deg ?? 0)}°`) : null,
    d && d.call_id ? h("div", { class: "flight-line" },
      purposeOf(d.call_id) ? `${purposeOf(d.call_id)} (no call)` : `Call #${d.call_id}`,
      d.sortie_id ? ` · sortie #${d.sortie_id}` : "") : null,
    d && d.reason ? h("div", { class: "reason" }, d.reason) : null,
    etaLine(state.etaCalibrations.get(station.drone_id)));
    return card;
  });
  box.replaceChildren(...cards);
}

function selectDrone(droneId) {
  state.selected = droneId;
  renderStations();
  renderCommands();
  updateVideo();
  const station = [...state.stations.values()].find((s) => s.drone_id === droneId);
  if (station) document.getElementById("launch-station").value = station.id;
  renderLaunch();
}

// ---------------------------------------------------------------- commands

// What the flight executor accepts in each sortie state: every command in the air, and
// only abort while the drone is still on its dock launching.
const AIRBORNE_STATES = new Set(["en_route", "on_scene", "returning"]);

function commandAllowed(drone, command) {
  if (!drone || !drone.sortie_id) return false;
  if (AIRBORNE_STATES.has(drone.sortie_state)) return true;
  return command === "abort" && drone.sortie_state === "launching";
}

function renderCommands() {
  const d = state.drones.get(state.selected);
  document.getElementById("command-title").textContent = d ? `Commands — ${d.id}` : "Commands";
  const note = document.getElementById("command-note");
  if (!canCommand) note.textContent = "Your role watches only.";
  else if (!d) note.textContent = "Select a drone.";
  else if (!d.sortie_id) note.textContent = `${d.id} has no sortie in flight.`;
  else note.textContent = `Sortie #${d.sortie_id} · ${stateText(d.sortie_state)} · call #${d.call_id}`;
  for (const button of document.querySelectorAll("#commands [data-command]")) {
    button.disabled = !canCommand || !commandAllowed(d, button.dataset.command);
    if (button.dataset.command === "reposition") {
      button.setAttribute("aria-pressed", state.mapMode === "reposition" ? "true" : "false");
    }
  }
}

async function sendCommand(command, extra = {}, droneId = state.selected) {
  const d = state.drones.get(droneId);
  if (!d) return;
  if (DESTRUCTIVE[command]) {
    const c = DESTRUCTIVE[command];
    const ok = await confirmAction(`${d.id}: ${c.title}`, c.text, c.label);
    if (!ok) return;
  }
  try {
    const result = await api(`/api/drones/${encodeURIComponent(d.id)}/commands`, {
      method: "POST", body: { command, ...extra },
    });
    toast(`${d.id}: ${command} accepted (${stateText(result.sortie_state)})`, "ok");
  } catch {
    // api() showed the reason
  }
}

function onCommandClick(event) {
  const button = event.target.closest("[data-command]");
  if (!button || button.disabled) return;
  const command = button.dataset.command;
  if (command === "orbit") {
    const radius = Number(document.getElementById("orbit-radius").value);
    if (!(radius > 5 && radius <= 1000)) {
      toast("Orbit radius must be between 5 and 1000 m", "error");
      return;
    }
    sendCommand("orbit", { radius_m: radius });
  } else if (command === "reposition") {
    setMapMode(state.mapMode === "reposition" ? null : "reposition");
  } else {
    sendCommand(command);
  }
}

// ---------------------------------------------------------------- map modes

function setMapMode(mode) {
  state.mapMode = mode;
  const hint = document.getElementById("map-hint");
  const texts = {
    "launch-point": "Click the map where the drone should go · Esc to cancel",
    reposition: `Click the map where ${state.selected} should hold · Esc to cancel`,
  };
  hint.textContent = texts[mode] || "";
  hint.classList.toggle("hidden", !mode);
  document.getElementById("map").style.cursor = mode ? "crosshair" : "";
  renderCommands();
}

function onMapClick(event) {
  const { lat, lng } = event.latlng;
  if (state.mapMode === "reposition") {
    setMapMode(null);
    sendCommand("reposition", { latitude_deg: lat, longitude_deg: lng });
  } else if (state.mapMode === "launch-point") {
    setMapMode(null);
    state.launchPoint = [lat, lng];
    dfrMap.setMarker("launch-point", [lat, lng], { html: SCENE_HTML, size: [30, 30], title: "Launch point" });
    renderLaunch();
  }
}

// ---------------------------------------------------------------- launch

function renderLaunch() {
  const stationSelect = document.getElementById("launch-station");
  const current = stationSelect.value;
  stationSelect.replaceChildren(...[...state.stations.values()].map((s) => {
    const d = state.drones.get(s.drone_id);
    const ready = d && d.online && d.docked && d.healthy !== false && !d.sortie_id;
    return h("option", { value: s.id, disabled: !ready },
      `${s.name} (${s.drone_id})${ready ? "" : ` — ${d ? stateText(droneState(d)) : "no telemetry"}`}`);
  }));
  if (current) stationSelect.value = current;
  if (!stationSelect.value || stationSelect.selectedOptions[0]?.disabled) {
    const first = [...stationSelect.options].find((o) => !o.disabled);
    if (first) stationSelect.value = first.value;
  }

  const callSelect = document.getElementById("launch-call");
  const chosenCall = callSelect.value;
  const queued = [...state.calls.values()]
    .filter((c) => c.status === "new" || c.status === "queued")
    .sort((a, b) => a.priority - b.priority || Date.parse(a.created_at) - Date.parse(b.created_at));
  callSelect.replaceChildren(...(queued.length
    ? queued.map((c) => h("option", { value: c.id }, `#${c.id} P${c.priority} ${c.summary || "(no summary)"} — ${c.status}`))
    : [h("option", { value: "" }, "No queued calls")]));
  if (chosenCall && queued.some((c) => String(c.id) === chosenCall)) callSelect.value = chosenCall;

  const target = document.querySelector("input[name=target]:checked").value;
  document.getElementById("target-call").classList.toggle("hidden", target !== "call");
  document.getElementById("target-point").classList.toggle("hidden", target !== "point");
  document.getElementById("launch-point").textContent = state.launchPoint
    ? `${state.launchPoint[0].toFixed(5)}, ${state.launchPoint[1].toFixed(5)}` : "No point chosen";

  const button = document.getElementById("launch-button");
  const station = state.stations.get(stationSelect.value);
  const ready = station && !stationSelect.selectedOptions[0]?.disabled;
  const purpose = document.getElementById("launch-purpose").value;
  const hasTarget = target === "call" ? Boolean(callSelect.value) : Boolean(state.launchPoint && purpose);
  button.disabled = !canCommand || !ready || !hasTarget;
  button.textContent = !station ? "Launch"
    : target === "call" && callSelect.value ? `Launch ${station.drone_id} to call #${callSelect.value}`
      : target === "point" && state.launchPoint && !purpose ? `Choose a purpose to launch ${station.drone_id}`
        : target === "point" && state.launchPoint ? `Launch ${station.drone_id} to the point` : `Launch ${station.drone_id}`;
}

async function launch() {
  const stationId = document.getElementById("launch-station").value;
  const target = document.querySelector("input[name=target]:checked").value;
  const body = { station_id: stationId };
  if (target === "call") {
    body.call_id = Number(document.getElementById("launch-call").value);
  } else {
    [body.latitude_deg, body.longitude_deg] = state.launchPoint;
    body.purpose = document.getElementById("launch-purpose").value;
  }
  const button = document.getElementById("launch-button");
  button.disabled = true;
  try {
    const result = await api("/api/launch", { method: "POST", body });
    state.calls.set(result.call.id, result.call);
    if (result.sortie) mergeSortie(result.sortie);
    const why = purposeOf(result.call.id) ? ` (${purposeOf(result.call.id)})` : "";
    toast(result.queued ? `Call #${result.call.id} queued` : `Launching to call #${result.call.id}${why} — ETA ${eta(result.eta_s)}`, "ok");
    state.launchPoint = null;
    document.getElementById("launch-purpose").value = "";
    dfrMap.removeMarker("launch-point");
    const station = state.stations.get(stationId);
    if (station) selectDrone(station.drone_id);
  } catch {
    // shown by api()
  } finally {
    renderLaunch();
    renderSorties();
  }
}

// ---------------------------------------------------------------- sorties and pending launches

function mergeSortie(sortie) {
  const known = state.sorties.get(sortie.id) || {};
  state.sorties.set(sortie.id, { ...known, ...sortie, events: sortie.events || known.events });
}

function launchInfo(sortie) {
  const launchedAt = sortie.launched_at || (sortie.events || []).find((e) => e.state === "launching")?.at;
  const by = sortie.launched_by;
  if (by || launchedAt) return `launched${by ? ` by ${by}` : ""}${launchedAt ? ` at ${timeOfDay(launchedAt)}` : ""}`;
  return sortie.created_by ? `sent by ${sortie.created_by}` : "";
}

// The altitude a sortie's route is flown at, and the ceiling zone that limits it, if any.
function altitudeLine(sortie) {
  const coords = sortie.route?.coordinates;
  const altitude = sortie.altitude_m ?? (coords?.length ? coords[coords.length - 1][2] : null);
  if (altitude == null) return null;
  if (!sortie.altitude_limit) return h("div", { class: "muted altitude" }, `flies at ${Math.round(altitude)} m`);
  return h("div", { class: "altitude limited", "data-altitude-limit": "" }, `Altitude limit ${sortie.altitude_limit}`);
}

function renderSorties() {
  const list = document.getElementById("sortie-list");
  const sorties = [...state.sorties.values()].sort((a, b) => b.id - a.id).slice(0, 20);
  list.replaceChildren(...(sorties.length ? sorties.map((s) => h("li", { "data-sortie-id": s.id, "data-state": s.state },
    h("div", { class: "fleet-head" }, h("strong", {}, `#${s.id} ${s.drone_id}`), chip(s.state)),
    h("div", {}, purposeOf(s.call_id, s) ? h("span", { class: "purpose" }, `${purposeOf(s.call_id, s)} (no call)`) : `call #${s.call_id ?? "—"}`,
      ` · from ${state.stations.get(s.station_id)?.name || s.station_id}`),
    h("div", { class: "muted" }, launchInfo(s), s.created_by && s.launched_by && s.created_by !== s.launched_by ? ` · sent by ${s.created_by}` : ""),
    altitudeLine(s)))
    : [h("li", { class: "muted" }, "No sorties yet.")]));

  const pending = [...state.sorties.values()].filter((s) => s.state === "awaiting_pilot");
  const panel = document.getElementById("pending-panel");
  panel.classList.toggle("hidden", !pending.length && state.deployment.launch_policy !== "pilot_confirm");
  document.getElementById("pending-list").replaceChildren(...(pending.length ? pending.map((s) => {
    const call = state.calls.get(s.call_id);
    return h("li", { "data-sortie-id": s.id, "data-policy": s.policy || null },
      h("div", {}, h("strong", {}, `${s.drone_id} → call #${s.call_id}`),
        call ? h("span", {}, ` P${call.priority} ${call.summary}`) : null),
      s.policy ? heldByPolicy(s) : h("div", { class: "muted" }, `sent by ${s.created_by || "dispatcher"} `,
        s.created_at ? h("span", { class: "num", "data-since": s.created_at }, clock(secondsSince(s.created_at))) : null,
        s.created_at ? " ago" : "", s.eta_s != null ? ` · ETA ${eta(s.eta_s)}` : ""),
      altitudeLine(s),
      s.mutual_aid ? h("div", { class: "note", "data-mutual-aid": s.mutual_aid },
        `Mutual aid: ${s.drone_id} is ${agencyName(s.agency)}'s, flying into another agency's jurisdiction`) : null,
      othersDrone(s)
        ? h("p", { class: "muted", "data-held-for": s.agency }, `Held for ${agencyName(s.agency)}'s pilot to confirm`)
        : h("button", {
          class: "go block", type: "button", "data-confirm-sortie": s.id, disabled: !canConfirm,
          onclick: () => confirmLaunch(s.id),
        }, `Confirm launch of ${s.drone_id}`),
      s.policy && canConfirm ? h("button", {
        class: "small block", type: "button", "data-decline-sortie": s.id,
        onclick: () => declineLaunch(s),
      }, "Decline: leave the call to a dispatcher") : null);
  }) : [h("li", { class: "muted" }, "Nothing waiting. Dispatchers' sends wait here for you.")]));
  renderPolicyStrip();
}

function agencyName(id) {
  const agency = (state.deployment.agencies || []).find((a) => a.id === id);
  return agency ? agency.name : id;
}

/** Another agency's drone (flying a call of ours): only its own agency's pilot confirms. */
function othersDrone(sortie) {
  return Boolean(sortie.agency && myAgencies && !myAgencies.includes(sortie.agency));
}

/** A launch a policy holds for the pilot: which policy, the seconds left, and what then. */
function heldByPolicy(sortie) {
  const policy = state.policies.get(sortie.policy);
  const then = policy?.on_timeout === "launch" ? "then it launches by itself" : "then it expires";
  const left = secondsLeft(sortie.confirm_expires_at);
  return h("div", { class: "held-by-policy" },
    h("div", {}, h("strong", {}, `Held by policy ${sortie.policy}`),
      sensorFacts(state.calls.get(sortie.call_id)) ? ` · ${sensorFacts(state.calls.get(sortie.call_id))}` : ""),
    h("div", { class: "countdown-line" }, "Confirm within ",
      h("span", {
        class: "countdown num", "data-countdown-until": sortie.confirm_expires_at,
        "data-seconds-left": left ?? "",
      }, left == null ? "" : `${left} s`),
      ` · ${then}`, sortie.eta_s != null ? ` · ETA ${eta(sortie.eta_s)}` : ""));
}

async function declineLaunch(sortie) {
  const ok = await confirmAction(`${sortie.drone_id}: decline the launch?`,
    `Policy ${sortie.policy} holds ${sortie.drone_id} for call #${sortie.call_id}. Declined, the drone stays on its dock and the call goes back to the dispatchers.`,
    "Decline launch");
  if (!ok) return;
  try {
    await api(`/api/drones/${encodeURIComponent(sortie.drone_id)}/commands`, {
      method: "POST", body: { command: "abort" },
    });
    toast(`Launch of ${sortie.drone_id} declined: call #${sortie.call_id} is back with the dispatchers`, "ok");
  } catch {
    // shown by api()
  }
}

// ---------------------------------------------------------------- launched by policy

/** The drones a launch policy launched with no click, flying now: big, with Abort. */
function renderPolicyStrip() {
  const strip = document.getElementById("policy-strip");
  const launched = [...state.sorties.values()]
    .filter((s) => launchedByPolicy(s) && !sortieStates.hasEnded(s.state))
    .sort((a, b) => a.id - b.id);
  strip.classList.toggle("hidden", !launched.length);
  strip.replaceChildren(...launched.map((s) => {
    const call = state.calls.get(s.call_id);
    return h("div", { class: "policy-launch", "data-policy-sortie": s.id, "data-policy": s.policy },
      h("span", { class: "policy-title" }, "Launched by policy ", h("span", { class: "policy-name" }, s.policy)),
      h("span", { class: "policy-what" },
        `${s.drone_id} → call #${s.call_id}`, call ? ` · P${call.priority} ${call.summary}` : "",
        s.launched_at ? ` · at ${timeOfDay(s.launched_at)}` : ""),
      chip(s.state),
      h("button", {
        class: "danger", type: "button", "data-policy-abort": s.id, disabled: !canCommand,
        onclick: () => sendCommand("abort", {}, s.drone_id),
      }, `Abort ${s.drone_id}`));
  }));
}

async function confirmLaunch(sortieId) {
  try {
    const sortie = await api(`/api/sorties/${sortieId}/confirm`, { method: "POST" });
    mergeSortie(sortie);
    toast(`Sortie #${sortieId} launched`, "ok");
  } catch {
    // shown by api()
  }
  renderSorties();
}

function renderSortieMapItems() {
  const active = new Set();
  for (const s of state.sorties.values()) {
    if (sortieStates.hasEnded(s.state)) continue;
    active.add(s.id);
    if (s.route && !dfrMap.routes.has(`sortie:${s.id}`)) dfrMap.showRoute(`sortie:${s.id}`, s.route, "sortie");
    const scene = s.scene || (state.calls.get(s.call_id) && [state.calls.get(s.call_id).longitude_deg, state.calls.get(s.call_id).latitude_deg]);
    if (scene) dfrMap.setMarker(`scene:${s.id}`, [scene[1], scene[0]], { html: SCENE_HTML, size: [30, 30], title: `Scene of call #${s.call_id}` });
  }
  for (const key of [...dfrMap.routes.keys()]) {
    if (key.startsWith("sortie:") && !active.has(Number(key.slice(7)))) dfrMap.clearRoute(key);
  }
  for (const key of dfrMap.markerKeys()) {
    if (key.startsWith("scene:") && !active.has(Number(key.slice(6)))) dfrMap.removeMarker(key);
  }
}

// ---------------------------------------------------------------- alerts

function derivedAlerts() {
  const alerts = [];
  for (const d of state.drones.values()) {
    if (!d.online) {
      alerts.push({ key: `${d.id}:link`, level: "danger", text: `${d.id} LINK LOST` });
      continue;
    }
    if (d.battery_pct != null && d.battery_pct < BATTERY_CRITICAL_PCT) {
      alerts.push({ key: `${d.id}:battery`, level: "danger", text: `${d.id} BATTERY CRITICAL ${pct(d.battery_pct)}` });
    } else if (d.battery_pct != null && d.battery_pct < BATTERY_LOW_PCT) {
      alerts.push({ key: `${d.id}:battery`, level: "warn", text: `${d.id} battery low ${pct(d.battery_pct)}` });
    }
    if (d.sortie_state === "fault") alerts.push({ key: `${d.id}:fault`, level: "danger", text: `${d.id} FAULT` });
    else if (d.healthy === false) alerts.push({ key: `${d.id}:health`, level: "warn", text: `${d.id} health checks failing` });
    // A vehicle's last text lingers (preflight notices from boot): it alerts only in flight.
    if ((d.in_air || d.sortie_id) && d.status_text && STATUS_ALERT.test(d.status_text)) {
      const fence = /fence/i.test(d.status_text);
      alerts.push({
        key: `${d.id}:status:${d.status_text}`, level: fence ? "danger" : "warn",
        text: `${d.id} ${fence ? "FENCE BREACH: " : ""}${d.status_text}`,
      });
    }
  }
  return alerts;
}

function renderAlerts() {
  const now = Date.now();
  state.serverAlerts = state.serverAlerts.filter((a) => now - a.at < SERVER_ALERT_KEPT_MS);
  alertBanner.show([...derivedAlerts(), ...state.serverAlerts]);
}

function onServerAlert(message) {
  const { droneId, text, level } = serverAlert(message);
  const who = droneId ? `${droneId} ` : "";
  state.serverAlerts.push({ key: `server:${Date.now()}:${state.serverAlerts.length}`, level, text: `${who}${text}`, at: Date.now() });
  renderAlerts();
}

// ---------------------------------------------------------------- video

function onStreams({ streams }) {
  state.streams = streams || [];
  updateVideo();
}

function updateVideo() {
  const box = document.getElementById("video-box");
  const label = document.getElementById("video-state");
  const video = document.getElementById("video");
  const droneId = state.selected;
  document.getElementById("video-title").textContent = droneId ? `Live video — ${droneId}` : "Live video";
  const stream = state.streams.find((s) => s.drone_id === droneId);
  if (state.player && (!stream || stream.stream_id !== state.playerStream)) {
    state.player.stop();
    state.player = null;
    state.playerStream = null;
    video.srcObject = null;
  }
  if (!droneId) {
    box.dataset.state = "idle";
    label.textContent = "Select a drone";
    return;
  }
  if (!stream) {
    const d = state.drones.get(droneId);
    box.dataset.state = "idle";
    label.textContent = d && d.in_air ? "Waiting for video…" : `No live video: ${droneId} is not flying`;
    return;
  }
  if (!state.player) {
    state.playerStream = stream.stream_id;
    state.player = playWhep(video, stream.whep_url, {
      onState: (s, error) => {
        box.dataset.state = s;
        label.textContent = { connecting: "Connecting video…", reconnecting: `Video interrupted — retrying (${error || ""})`, ended: "Video ended", stopped: "" }[s] || "";
      },
    });
  }
}

// ---------------------------------------------------------------- live updates

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    renderStations();
    renderCommands();
    renderAlerts();
    renderLaunch();
  }, 400);
}

function onTelemetry({ drones = [] }) {
  for (const d of drones) state.drones.set(d.id, d);
  dfrMap.updateDrones(drones);
  scheduleRender();
}

function onSortie({ sortie }) {
  const before = state.sorties.get(sortie.id);
  mergeSortie(sortie);
  if ((!before || before.state !== sortie.state) && sortie.state === "awaiting_pilot") {
    const by = sortie.policy ? `Policy ${sortie.policy}: l` : "L";
    toast(`${by}aunch of ${sortie.drone_id} waits for your confirmation`, "error");
  }
  if (!launchedByPolicy(before) && launchedByPolicy(state.sorties.get(sortie.id))) {
    toast(`${sortie.drone_id} launched by policy ${sortie.policy} for call #${sortie.call_id}`, "error");
  }
  renderSorties();
  renderSortieMapItems();
}

function onEtaCalibration(calibration) {
  state.etaCalibrations.set(calibration.drone_id, calibration);
  renderStations();
}

function onCall({ call }) {
  state.calls.set(call.id, call);
  renderLaunch();
  renderPolicyStrip();
}

// ---------------------------------------------------------------- start

async function setup({ session, deployment, airspace, sortieStates: states }) {
  canCommand = ["dispatcher", "pilot"].includes(session.role);
  canConfirm = session.role === "pilot";
  try {
    myAgencies = (await api("/api/me")).agencies; // null: every agency's
  } catch {
    myAgencies = null; // the server refuses another agency's confirmation anyway
  }
  sortieStates = states;
  state.deployment = deployment;
  document.getElementById("deployment-name").textContent =
    `${deployment.name}${deployment.launch_policy === "pilot_confirm" ? " · launches need pilot confirmation" : ""}`;
  for (const s of deployment.stations) state.stations.set(s.id, s);
  for (const p of deployment.launch_purposes || []) state.purposes.set(p.id, p.label);
  for (const p of deployment.auto_launch?.policies || []) state.policies.set(p.name, p);
  document.getElementById("launch-purpose").append(
    ...[...state.purposes].map(([id, label]) => h("option", { value: id }, label)));
  alertBanner = new AlertBanner(document.getElementById("alert-strip"));

  dfrMap = new DfrMap(document.getElementById("map"), { deployment, airspace });
  window.dfrMap = dfrMap.map;
  dfrMap.map.on("click", onMapClick);
  addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.mapMode) setMapMode(null);
  });

  const etaOf = (droneId) => api(`/api/drones/${encodeURIComponent(droneId)}/eta-calibration`, { quiet: true })
    .catch(() => null);
  const [stations, calls, sorties, calibrations] = await Promise.all([
    api("/api/stations").catch(() => []),
    api("/api/calls?status=new&status=queued&status=dispatched").catch(() => []), // the open ones
    api("/api/sorties?active=true", { quiet: true }).catch(() => []),
    Promise.all(deployment.stations.map((s) => etaOf(s.drone_id))),
  ]);
  for (const c of calibrations) if (c) state.etaCalibrations.set(c.drone_id, c);
  for (const s of stations) state.drones.set(s.drone.id, { ...s.drone, station_id: s.drone.station_id || s.id });
  for (const c of calls) state.calls.set(c.id, c);
  for (const s of sorties) mergeSortie(s);
  dfrMap.updateDrones([...state.drones.values()]);

  document.getElementById("commands").addEventListener("click", onCommandClick);
  document.getElementById("launch-button").addEventListener("click", launch);
  document.getElementById("launch-station").addEventListener("change", renderLaunch);
  document.getElementById("launch-call").addEventListener("change", renderLaunch);
  document.getElementById("launch-purpose").addEventListener("change", renderLaunch);
  for (const radio of document.querySelectorAll("input[name=target]")) radio.addEventListener("change", renderLaunch);
  document.getElementById("pick-launch-point").addEventListener("click", () => setMapMode("launch-point"));

  const first = [...state.stations.values()][0];
  if (first) selectDrone(first.drone_id);
  renderStations();
  renderSorties();
  renderSortieMapItems();
  renderAlerts();
  renderLaunch();
  startAgeTicker();
  startCountdowns();
}

startConsole({
  name: "pilot",
  title: "The pilot console",
  airspace: true,
  setup,
  onEvent: {
    telemetry: onTelemetry,
    sortie: onSortie,
    call: onCall,
    alert: onServerAlert,
    streams: onStreams,
    eta_calibration: onEtaCalibration,
  },
});
