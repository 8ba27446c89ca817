// How the pages write times, distances and states, and the colours of states and priorities.

import { h } from "/static/dom.js";

export function secondsSince(isoTime) {
  const t = Date.parse(isoTime);
  return Number.isNaN(t) ? 0 : Math.max(0, (Date.now() - t) / 1000);
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function eta(seconds) {
  return seconds == null ? "—" : `${Math.round(seconds)} s`;
}

export function km(metres) {
  return metres == null ? "—" : metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

export function pct(value) {
  return value == null ? "—" : `${Math.round(value)}%`;
}

export function timeOfDay(isoTime) {
  if (!isoTime) return "—";
  const d = new Date(isoTime);
  return Number.isNaN(d.getTime()) ? isoTime : d.toLocaleTimeString([], { hour12: false });
}

/** Keep every element with data-since="<iso time>" showing its age, once a second. */
export function startAgeTicker(root = document) {
  const tick = () => {
    for (const element of root.querySelectorAll("[data-since]")) {
      element.textContent = clock(secondsSince(element.dataset.since));
    }
  };
  tick();
  return setInterval(tick, 1000);
}

/** Distance in metres between two [lat, lon] points (haversine). */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(s));
}

/** Seconds until a sortie's drone reaches the scene, counted down from its launch; null without an ETA. */
export function remainingEtaS(sortie) {
  if (sortie.eta_s == null) return null;
  const since = sortie.launched_at || (sortie.events || []).find((e) => e.state === "launching")?.at;
  return since ? Math.max(0, sortie.eta_s - secondsSince(since)) : sortie.eta_s;
}

// ---------------------------------------------------------------- states

const STATE_TEXT = {
  offline: "offline", fault: "fault", aborted: "aborted", awaiting_pilot: "awaiting pilot", reserved: "reserved",
  launching: "launching", en_route: "en route", on_scene: "on scene", returning: "returning",
  landed: "landed", docked: "docked", charging: "charging", airborne: "airborne", away: "away",
  maintenance: "maintenance", unknown: "unknown",
};

export const STATE_COLOR = {
  offline: "#7d8a98", fault: "#ff4d4f", aborted: "#ff4d4f", awaiting_pilot: "#ffb020", reserved: "#ffb020",
  launching: "#ffe04a", en_route: "#3cc4ff", airborne: "#3cc4ff", on_scene: "#36d67a",
  returning: "#c38bff", landed: "#b9c7d6", docked: "#b9c7d6", charging: "#b9c7d6",
  away: "#b9c7d6", maintenance: "#ffb020", unknown: "#b9c7d6",
};

export const PRIORITY_COLOR = { 1: "#ff4d4f", 2: "#ff8a3c", 3: "#ffc93c", 4: "#5fb3ff", 5: "#9aa8b6" };

export function stateText(state) {
  return STATE_TEXT[state] || String(state || "unknown").replace(/_/g, " ");
}

/** One word for what a drone is doing, used for colour (class st-<state>) and labels. */
export function droneState(drone) {
  if (!drone) return "unknown";
  if (!drone.online) return "offline";
  if (drone.sortie_state) return drone.sortie_state;
  if (drone.in_air) return "airborne";
  if (drone.healthy === false) return "fault";
  return drone.dock_state || "unknown";
}

export function chip(state) {
  return h("span", { class: `chip st-${state}`, "data-state": state }, stateText(state));
}
