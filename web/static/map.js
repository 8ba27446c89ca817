// The deployment's Leaflet map: airspace, stations, drones, routes and markers, on a plain
// background or on the deployment's own tiles (credited in the attribution control).

import { areaBounds, drawAirspace, legend, refreshBuffers } from "/static/airspace.js";
import { escapeHtml } from "/static/dom.js";
import { droneState, PRIORITY_COLOR, STATE_COLOR, stateText } from "/static/format.js";

const OSM_NOTICE = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
const ROUTE_STYLE = {
  recommended: { color: "#3cc4ff", weight: 5, opacity: 0.95 },
  alternative: { color: "#a3b3c4", weight: 3, opacity: 0.7, dashArray: "6 8" },
  sortie: { color: "#36d67a", weight: 4, opacity: 0.85, dashArray: "10 6" },
};

/**
 * The credit shown for a tile URL template: OpenStreetMap's licence asks for its notice;
 * any other tile server is named by its host.
 */
export function tileAttribution(tileUrl) {
  let host = "";
  try {
    // "{s}." is a subdomain letter and "{z}/{x}/{y}" numbers: neither parses as a URL.
    host = new URL(tileUrl.replace(/\{s\}\./g, "").replace(/\{[^}]*\}/g, "0"), location.href).hostname;
  } catch {
    // not a URL at all: the tiles will not load either; credit them without a host
  }
  if (/(^|\.)openstreetmap\.(org|fr|de)$/.test(host)) return OSM_NOTICE;
  return host ? `Map tiles: ${escapeHtml(host)}` : "Map tiles";
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
      this.map.attributionControl.setPrefix(false);
      L.tileLayer(tileUrl, { maxZoom: 20, attribution: tileAttribution(tileUrl) }).addTo(this.map);
    }
    if (!compact) {
      L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
      legend(airspace).addTo(this.map);
    }
    this.buffers = [];
    this.drones = new Map();
    this.routes = new Map();
    this.markers = new Map();
    // A view first: Leaflet draws layers and gives markers their elements only once it has one.
    this.areaBounds = areaBounds(airspace, deployment);
    this.fitArea();
    if (airspace) this.buffers = drawAirspace(this.map, airspace, labels);
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

  refreshBuffers() {
    refreshBuffers(this.map, this.buffers);
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
    const line = L.polyline(route.coordinates.map(([lon, lat]) => [lat, lon]), {
      ...(ROUTE_STYLE[kind] || ROUTE_STYLE.recommended), className: `route route-${kind}`, interactive: false,
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
