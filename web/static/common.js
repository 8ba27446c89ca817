// Shared by every dfr console: session, API calls, the live socket, the map and WHEP video.
// Plain ES module; Leaflet is the global `L` loaded from /vendor/leaflet/ before this runs.

const SESSION_KEY = "dfr.session";

// ---------------------------------------------------------------- session

/** The logged-in user of this tab: {token, name, role} or null. */
export function getSession() {
  try {
    const data = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return data && data.token ? data : null;
  } catch {
    return null;
  }
}

export function setSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** Which consoles a role may open, in the order they are offered. */
export const CONSOLES = {
  dispatcher: { path: "/dispatcher", title: "Dispatcher", text: "Calls, recommendations and one-click dispatch" },
  pilot: { path: "/pilot", title: "Pilot station", text: "Every drone: launch, command, live video, alerts" },
  wall: { path: "/wall", title: "RTCC wall", text: "Every live stream in a grid" },
};

export const ROLE_CONSOLES = {
  dispatcher: ["dispatcher", "wall"],
  pilot: ["pilot", "dispatcher", "wall"],
  rtcc: ["wall", "dispatcher"],
  admin: ["dispatcher", "pilot", "wall"],
  officer: [],
};

/** The session of a console page, or a redirect to the login page (returns null then). */
export function requireSession(consoleName) {
  const session = getSession();
  if (!session) {
    location.replace(`/?next=${encodeURIComponent(location.pathname)}`);
    return null;
  }
  if (consoleName && !(ROLE_CONSOLES[session.role] || []).includes(consoleName)) {
    showPageError(
      "Not available for your role",
      `You are logged in as ${session.name} (${session.role}); this console is not part of that role.`,
      { loginLink: true },
    );
    return null;
  }
  return session;
}

export function logout() {
  clearSession();
  location.assign("/");
}

/** Fill a console's top bar: who is logged in, the consoles of the role, log out. */
export function consoleHeader(session, current) {
  const user = document.getElementById("user");
  if (user) user.textContent = `${session.name} · ${session.role}`;
  const nav = document.getElementById("nav");
  if (nav) {
    nav.replaceChildren(...(ROLE_CONSOLES[session.role] || []).map((name) => h("a", {
      href: CONSOLES[name].path, "aria-current": name === current ? "page" : null,
    }, CONSOLES[name].title)));
  }
  const button = document.getElementById("logout");
  if (button) button.addEventListener("click", logout);
  return connectionIndicator(document.getElementById("conn"));
}

// ---------------------------------------------------------------- API

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

let apiToken = null;
let onUnauthorized = null;

/** Token sent with every API call and the socket (a session token or an officer's share link). */
export function useToken(token, { whenUnauthorized } = {}) {
  apiToken = token;
  onUnauthorized = whenUnauthorized || null;
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // pydantic's 422: [{loc: ["body", "priority"], msg: "..."}]
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

/**
 * Call the API; resolves to the parsed JSON (null for an empty body).
 * Rejects with ApiError carrying the server's `detail`, shown to the user unless `quiet`.
 */
export async function api(path, { method = "GET", body, quiet = false, keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  if (apiToken) headers.Authorization = `Bearer ${apiToken}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, keepalive,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    const error = new ApiError(0, "the server cannot be reached");
    if (!quiet) toast(error.detail, "error");
    throw error;
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = detailText(data && data.detail !== undefined ? data.detail : data)
      || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, detail);
    if (response.status === 401 && onUnauthorized) onUnauthorized(error);
    else if (!quiet) toast(detail, "error");
    throw error;
  }
  return data;
}

// ---------------------------------------------------------------- small DOM helpers

/** h("div", {class: "x", onclick: fn}, "text", child) → element. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(key, "");
    } else {
      element.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function toast(message, kind = "info", timeoutMs = 5000) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), timeoutMs);
}

/** Replace the page's main content with an explanation and a way out (never a blank page). */
export function showPageError(title, message, { retry, loginLink } = {}) {
  const main = document.querySelector("main") || document.body;
  main.replaceChildren(
    h("section", { class: "page-error", role: "alert" },
      h("h2", {}, title),
      h("p", {}, message),
      h("p", {},
        retry ? h("button", { class: "primary", onclick: retry }, "Try again") : null,
        " ",
        loginLink ? h("a", { class: "button", href: "/" }, "Log in") : null)),
  );
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(title, message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      h("h3", { id: "confirm-title" }, title),
      h("p", {}, message),
      h("div", { class: "actions" },
        h("button", { class: "small", value: "cancel", "data-action": "cancel" }, "Cancel"),
        h("button", { class: "danger", value: "ok", "data-action": "confirm" }, confirmLabel)));
    let answered = false;
    const finish = (ok) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    dialog.querySelector("[data-action=cancel]").addEventListener("click", () => finish(false));
    dialog.querySelector("[data-action=confirm]").addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("[data-action=cancel]").focus();
  });
}

/** Copy text to the clipboard; falls back to a selected field where the API is unavailable. */
export async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (field) {
      field.focus();
      field.select();
      try {
        return document.execCommand("copy");
      } catch {
        return false;
      }
    }
    return false;
  }
}

// ---------------------------------------------------------------- formatting

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

const STATE_TEXT = {
  offline: "offline", fault: "fault", aborted: "aborted", awaiting_pilot: "awaiting pilot", reserved: "reserved",
  launching: "launching", en_route: "en route", on_scene: "on scene", returning: "returning",
  landed: "landed", docked: "docked", charging: "charging", airborne: "airborne", away: "away",
  maintenance: "maintenance", unknown: "unknown",
};

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

// ---------------------------------------------------------------- connection state

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
 * onMessage(msg) for each JSON message; onState(state) with connecting/live/reconnecting/offline.
 * Returns {close()}.
 */
export function connectSocket({ token, onMessage, onState, onAuthFailed }) {
  let socket = null;
  let delayMs = 1000;
  let timer = null;
  let closed = false;
  let opened = false;

  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    onState(opened ? "reconnecting" : "connecting");
    socket = new WebSocket(`${scheme}://${location.host}/api/ws?token=${encodeURIComponent(token)}`);
    socket.addEventListener("open", () => {
      opened = true;
      delayMs = 1000;
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
      if (event.code === 4401) {
        onState("offline");
        if (onAuthFailed) onAuthFailed(event.reason || "not logged in");
        return;
      }
      onState(opened ? "reconnecting" : "offline");
      timer = setTimeout(open, delayMs);
      delayMs = Math.min(delayMs * 2, 15000);
    });
  };
  addEventListener("online", () => {
    if (!socket && !closed) {
      clearTimeout(timer);
      delayMs = 1000;
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

// ---------------------------------------------------------------- map

const ZONE_STYLE = {
  operational_area: { color: "#3cc4ff", weight: 2.5, fill: false, dashArray: "8 6" },
  no_fly: { color: "#ff4d4f", weight: 2, fillColor: "#ff4d4f", fillOpacity: 0.38 },
  ceiling: { color: "#ff9a3c", weight: 2, fillColor: "#ff9a3c", fillOpacity: 0.3 },
};
const BUFFER_COLOR = { no_fly: "#ff8f90", ceiling: "#ffc38f" };

const STATE_COLOR = {
  offline: "#7d8a98", fault: "#ff4d4f", aborted: "#ff4d4f", awaiting_pilot: "#ffb020", reserved: "#ffb020",
  launching: "#ffe04a", en_route: "#3cc4ff", airborne: "#3cc4ff", on_scene: "#36d67a",
  returning: "#c38bff", landed: "#b9c7d6", docked: "#b9c7d6", charging: "#b9c7d6",
  away: "#b9c7d6", maintenance: "#ffb020", unknown: "#b9c7d6",
};

export const PRIORITY_COLOR = { 1: "#ff4d4f", 2: "#ff8a3c", 3: "#ffc93c", 4: "#5fb3ff", 5: "#9aa8b6" };

function metresPerPixel(map, latitudeDeg) {
  return (40075016.686 * Math.cos((latitudeDeg * Math.PI) / 180)) / 2 ** (map.getZoom() + 8);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function zoneLabel(props) {
  const name = props.name || props.kind;
  if (props.kind === "ceiling" && props.ceiling_m != null) return `${name} · ceiling ${props.ceiling_m} m`;
  if (props.kind === "no_fly") return `${name} · no fly`;
  return name;
}

/** A key to the map's colours, folded by default so it does not hide the map. */
function legend(airspace) {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const area = ((airspace && airspace.features) || []).find((f) => (f.properties || {}).kind === "operational_area");
    const box = L.DomUtil.create("details", "map-legend");
    box.innerHTML = `<summary>Legend</summary>
      <div><i class="swatch area"></i>${escapeHtml(area ? area.properties.name || "Operational area" : "Operational area")}</div>
      <div><i class="swatch no-fly"></i>No-fly zone <i class="swatch buffer"></i>buffer</div>
      <div><i class="swatch ceiling"></i>Altitude ceiling</div>
      <div><i class="swatch station"></i>Station (dock)</div>
      <div><i class="dot" style="background:${STATE_COLOR.en_route}"></i>en route
           <i class="dot" style="background:${STATE_COLOR.on_scene}"></i>on scene
           <i class="dot" style="background:${STATE_COLOR.returning}"></i>returning</div>
      <div><i class="dot" style="background:${STATE_COLOR.docked}"></i>docked
           <i class="dot" style="background:${STATE_COLOR.awaiting_pilot}"></i>waiting
           <i class="dot" style="background:${STATE_COLOR.fault}"></i>fault
           <i class="dot" style="background:${STATE_COLOR.offline}"></i>offline</div>`;
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  return control;
}

/** What the map shows first: the operational area, else all the airspace, else the stations. */
function areaBounds(airspace, deployment) {
  const features = (airspace && airspace.features) || [];
  const area = features.filter((f) => (f.properties || {}).kind === "operational_area");
  for (const chosen of [area, features]) {
    if (!chosen.length) continue;
    const bounds = L.geoJSON({ type: "FeatureCollection", features: chosen }).getBounds();
    if (bounds.isValid()) return bounds;
  }
  const stations = (deployment && deployment.stations) || [];
  if (stations.length) {
    return L.latLngBounds(stations.map((s) => [s.latitude_deg, s.longitude_deg])).pad(0.5);
  }
  return null;
}

/**
 * The deployment's map: airspace, stations, drones, routes and markers on a plain
 * background (or the deployment's own tile server when it names one).
 */
export class DfrMap {
  constructor(element, { deployment, airspace, zoomControl = true, labels = true, compact = false }) {
    if (typeof L === "undefined") {
      throw new Error("the map library (Leaflet) is not installed on this server: run `npm ci` there");
    }
    this.element = element;
    this.compact = compact;
    element.classList.add("map");
    const tileUrl = deployment && deployment.tile_url;
    if (!tileUrl) element.classList.add("no-tiles");
    this.map = L.map(element, {
      zoomControl,
      attributionControl: Boolean(tileUrl),
      zoomSnap: 0.25,
      preferCanvas: false,
    });
    if (tileUrl) {
      L.tileLayer(tileUrl, { maxZoom: 20, attribution: "" }).addTo(this.map);
      this.map.attributionControl.setPrefix(false);
    }
    if (!compact) {
      L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
      legend(airspace).addTo(this.map);
    }
    this.buffers = [];
    this.drones = new Map();
    this.routes = new Map();
    this.markers = new Map();
    this.areaBounds = null;
    // A view first: Leaflet draws layers and gives markers their elements only once it has one.
    this.areaBounds = areaBounds(airspace, deployment);
    this.fitArea();
    if (airspace) this.drawAirspace(airspace, labels);
    if (deployment && deployment.stations) this.drawStations(deployment.stations, !compact);
    this.map.on("zoomend", () => this.refreshBuffers());
    this.refreshBuffers();
    // Zone names clutter the city overview (the legend explains the colours there).
    const labelZoom = () => element.classList.toggle("hide-labels", this.map.getZoom() < 13.5);
    this.map.on("zoomend", labelZoom);
    labelZoom();
    new ResizeObserver(() => this.map.invalidateSize()).observe(element);
  }

  fitArea(padding = 20) {
    if (this.areaBounds && this.areaBounds.isValid()) {
      this.map.fitBounds(this.areaBounds, { padding: [padding, padding] });
    } else {
      this.map.setView([0, 0], 2);
    }
  }

  drawAirspace(geojson, labels) {
    const pane = this.map.createPane("airspace");
    pane.style.zIndex = 350;
    const features = (geojson.features || []).slice();
    // The operational area underneath, then ceilings, then no-fly zones on top.
    const order = { operational_area: 0, ceiling: 1, no_fly: 2 };
    features.sort((a, b) => (order[a.properties.kind] ?? 3) - (order[b.properties.kind] ?? 3));
    for (const feature of features) {
      const props = feature.properties || {};
      const kind = props.kind;
      const style = { ...(ZONE_STYLE[kind] || ZONE_STYLE.ceiling), pane: "airspace", interactive: false };
      const buffer = Number(props.buffer_m) || 0;
      let shape;
      if (feature.geometry.type === "Point") {
        const [lon, lat] = feature.geometry.coordinates;
        const radius = Number(props.radius_m) || 0;
        if (buffer > 0 && BUFFER_COLOR[kind]) {
          L.circle([lat, lon], {
            radius: radius + buffer, pane: "airspace", interactive: false, stroke: false,
            fillColor: BUFFER_COLOR[kind], fillOpacity: 0.22, className: `zone-buffer-circle ${kind}`,
          }).addTo(this.map);
        }
        shape = L.circle([lat, lon], { ...style, radius, className: `zone ${kind}` }).addTo(this.map);
      } else {
        const layer = L.geoJSON(feature, { style: () => ({ ...style, className: `zone ${kind}` }) });
        if (buffer > 0 && BUFFER_COLOR[kind]) {
          const bufferLayer = L.geoJSON(feature, {
            style: () => ({
              pane: "airspace", interactive: false, color: BUFFER_COLOR[kind],
              fillColor: BUFFER_COLOR[kind], opacity: 1, fillOpacity: 1, lineJoin: "round",
              weight: 1, className: `zone-buffer ${kind}`,
            }),
          }).addTo(this.map);
          bufferLayer.eachLayer((l) => this.buffers.push({ layer: l, buffer_m: buffer }));
        }
        shape = layer.addTo(this.map);
      }
      // The operational area is named in the legend; a label in its middle would hide the city.
      if (labels && kind !== "operational_area") {
        shape.bindTooltip(escapeHtml(zoneLabel(props)), {
          permanent: true, direction: "right", offset: [10, 0], className: `zone-label ${kind}`, interactive: false,
        });
      }
    }
    this.refreshBuffers();
  }

  /** A zone's buffer is drawn as a stroke twice its width in metres, rescaled to the zoom. */
  refreshBuffers() {
    if (!this.map._loaded) return;
    const lat = this.map.getCenter().lat;
    const mpp = metresPerPixel(this.map, lat);
    for (const { layer, buffer_m: buffer } of this.buffers) {
      layer.setStyle({ weight: Math.max(1, (2 * buffer) / mpp) });
    }
  }

  drawStations(stations, withLabels = true) {
    for (const station of stations) {
      const marker = L.marker([station.latitude_deg, station.longitude_deg], {
        icon: L.divIcon({ className: "", html: '<div class="station-icon"></div>', iconSize: [22, 22] }),
        keyboard: false,
        zIndexOffset: -100,
        title: station.name,
      }).addTo(this.map);
      const element = marker.getElement();
      if (element) element.dataset.station = station.id;
      if (withLabels) {
        marker.bindTooltip(escapeHtml(station.name), {
          permanent: true, direction: "bottom", offset: [0, 12], className: "station-label",
        });
      }
    }
  }

  /** Place or move each drone's marker: an arrow along its heading, coloured by its state. */
  updateDrones(drones, { labels = true } = {}) {
    for (const drone of drones) {
      if (drone.latitude_deg == null || drone.longitude_deg == null) continue;
      const state = droneState(drone);
      const latLng = [drone.latitude_deg, drone.longitude_deg];
      let marker = this.drones.get(drone.id);
      if (!marker) {
        const label = labels ? `<span class="label">${escapeHtml(drone.id)}</span>` : "";
        marker = L.marker(latLng, {
          icon: L.divIcon({
            className: "",
            iconSize: [40, 40],
            html: `<div class="drone-icon"><svg viewBox="-20 -20 40 40" aria-hidden="true">
                     <circle class="halo" r="17"></circle>
                     <g class="heading"><path class="body" d="M0,-15 L10,11 L0,5 L-10,11 Z"></path></g>
                   </svg>${label}</div>`,
          }),
          keyboard: false,
          zIndexOffset: 1000,
        }).addTo(this.map);
        this.drones.set(drone.id, marker);
      } else {
        marker.setLatLng(latLng);
      }
      const element = marker.getElement();
      if (!element) continue;
      const icon = element.querySelector(".drone-icon");
      icon.style.color = STATE_COLOR[state] || STATE_COLOR.unknown;
      icon.querySelector(".heading").setAttribute("transform", `rotate(${Number(drone.heading_deg) || 0})`);
      icon.querySelector(".halo").style.display = drone.in_air ? "" : "none";
      const alt = drone.relative_altitude_m != null ? `${Math.round(drone.relative_altitude_m)} m` : "";
      marker.options.title = `${drone.id} · ${stateText(state)} ${alt}`;
      element.title = marker.options.title;
      Object.assign(element.dataset, {
        drone: drone.id, state, lat: drone.latitude_deg.toFixed(6), lon: drone.longitude_deg.toFixed(6),
      });
    }
  }

  /** Draw a route (GeoJSON LineString of [lon, lat, alt]) under a key; kind styles it. */
  showRoute(key, route, kind = "recommended") {
    this.clearRoute(key);
    if (!route || !route.coordinates || route.coordinates.length < 2) return null;
    const styles = {
      recommended: { color: "#3cc4ff", weight: 5, opacity: 0.95 },
      alternative: { color: "#a3b3c4", weight: 3, opacity: 0.7, dashArray: "6 8" },
      sortie: { color: "#36d67a", weight: 4, opacity: 0.85, dashArray: "10 6" },
    };
    const line = L.polyline(route.coordinates.map(([lon, lat]) => [lat, lon]), {
      ...(styles[kind] || styles.recommended), className: `route route-${kind}`, interactive: false,
    }).addTo(this.map);
    this.routes.set(key, line);
    return line;
  }

  clearRoute(key) {
    const line = this.routes.get(key);
    if (line) line.remove();
    this.routes.delete(key);
  }

  clearRoutes(prefix = "") {
    for (const key of [...this.routes.keys()]) if (String(key).startsWith(prefix)) this.clearRoute(key);
  }

  /** A marker under a key (calls, the scene, the officer), replaced when set again. */
  setMarker(key, latLng, { html, className = "", size = [28, 28], anchor, title, onClick, zIndexOffset = 500 } = {}) {
    let marker = this.markers.get(key);
    if (marker) {
      marker.setLatLng(latLng);
      if (html !== undefined && marker._dfrHtml !== html) {
        marker.setIcon(L.divIcon({ className, html, iconSize: size, iconAnchor: anchor }));
        marker._dfrHtml = html;
      }
      return marker;
    }
    marker = L.marker(latLng, {
      icon: L.divIcon({ className, html, iconSize: size, iconAnchor: anchor }),
      title: title || "",
      keyboard: Boolean(onClick),
      zIndexOffset,
    }).addTo(this.map);
    marker._dfrHtml = html;
    if (onClick) marker.on("click", onClick);
    this.markers.set(key, marker);
    return marker;
  }

  removeMarker(key) {
    const marker = this.markers.get(key);
    if (marker) marker.remove();
    this.markers.delete(key);
  }

  markerKeys() {
    return [...this.markers.keys()];
  }
}

export const SCENE_HTML = `<div class="scene-icon"><svg viewBox="-15 -15 30 30" aria-hidden="true">
  <circle r="11" fill="none" stroke="#fff" stroke-width="3"></circle>
  <circle r="11" fill="none" stroke="#ff4d4f" stroke-width="1.5"></circle>
  <path d="M0,-15 V-6 M0,6 V15 M-15,0 H-6 M6,0 H15" stroke="#fff" stroke-width="2.5"></path>
  <circle r="2.5" fill="#ff4d4f"></circle></svg></div>`;

export function callMarkerHtml(call, selected = false) {
  const color = PRIORITY_COLOR[call.priority] || PRIORITY_COLOR[5];
  return `<div class="call-icon${selected ? " selected" : ""}" style="background:${color}"><span>${call.id}</span></div>`;
}

/** Fetch the deployment and its airspace (both needed before a map can be drawn). */
export async function loadDeployment() {
  const [deployment, airspace] = await Promise.all([api("/api/deployment"), api("/api/airspace")]);
  return { deployment, airspace };
}

// ---------------------------------------------------------------- live video (WHEP)

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
export function playWhep(video, whepUrl, { token = apiToken, onState = () => {}, retryMs = 3000 } = {}) {
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
    const pc = new RTCPeerConnection({ iceServers: [] });
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
      await iceGathered(pc, 2000);
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
        if (response.status === 404 || response.status === 410) {
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
      const location_ = response.headers.get("Location");
      player.sessionUrl = location_ ? new URL(location_, location.href).href : null;
      await pc.setRemoteDescription({ type: "answer", sdp: text });
    } catch (error) {
      retryLater(error.message || String(error));
    }
  }

  set("connecting");
  start();
  return player;
}
