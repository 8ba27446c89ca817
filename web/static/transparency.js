// The public flight log (/transparency): no login. It reads /api/public/flights.json and
// shows what is published, the monthly figures and every flight with a sketch of its
// coarse track. Times are the department's local times, as the server wrote them.

import { h } from "/static/dom.js";
import { km } from "/static/format.js";

const SVG = "http://www.w3.org/2000/svg";
const SKETCH_PX = 64;

/** "2025-03-01T14:03-07:00" → "14:03" (the department's clock, not the reader's). */
function hhmm(localIso) {
  return localIso ? localIso.slice(11, 16) : "—";
}

function minutes(seconds) {
  if (seconds == null) return "—";
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m} min${s ? ` ${s} s` : ""}`;
}

function monthName(month) {
  const [year, number] = month.split("-").map(Number);
  return new Date(Date.UTC(year, number - 1, 15)).toLocaleDateString("en-US", {
    month: "long", year: "numeric", timeZone: "UTC",
  });
}

function yesNo(value, yes = "yes", no = "no") {
  return h("span", { class: value ? "flag yes" : "flag" }, value ? yes : no);
}

/** A small drawing of a flight's coarse track (lon/lat, north up), or a dash without one. */
function trackSketch(track, flightId) {
  if (!track || !track.length) return h("span", { class: "muted" }, "—");
  const lat0 = track[0][1] * Math.PI / 180;
  const xy = track.map(([lon, lat]) => [lon * Math.cos(lat0), -lat]);
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => p[1]);
  const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 1e-4);
  const pad = 6;
  const scale = (SKETCH_PX - 2 * pad) / span;
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
  const cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  const points = xy.map(([x, y]) => `${(SKETCH_PX / 2 + (x - cx) * scale).toFixed(1)},${(SKETCH_PX / 2 + (y - cy) * scale).toFixed(1)}`);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${SKETCH_PX} ${SKETCH_PX}`);
  svg.setAttribute("class", "sketch");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Coarse track of flight ${flightId}, north up`);
  const line = document.createElementNS(SVG, points.length > 1 ? "polyline" : "circle");
  if (points.length > 1) {
    line.setAttribute("points", points.join(" "));
  } else {
    line.setAttribute("cx", SKETCH_PX / 2);
    line.setAttribute("cy", SKETCH_PX / 2);
    line.setAttribute("r", 3);
  }
  const start = document.createElementNS(SVG, "circle");
  const [sx, sy] = points[0].split(",");
  start.setAttribute("cx", sx);
  start.setAttribute("cy", sy);
  start.setAttribute("r", 3);
  start.setAttribute("class", "start");
  svg.append(line, start);
  return svg;
}

function renderAbout(log) {
  const delay = log.delay_h === 0 ? "as soon as it has landed" : `${log.delay_h} hours after it has landed`;
  document.getElementById("about").replaceChildren(
    h("li", {}, `A flight appears here ${delay}. Only flights that have ended are listed.`),
    h("li", { id: "held-back" }, h("strong", { class: "num" }, String(log.held_back)),
      log.held_back === 1 ? " flight is" : " flights are",
      " held back by the department and not listed (for example to protect a victim or an investigation)."),
    h("li", {}, "Each flight shows the category of its call, never the call's details; a flight without a call shows its purpose (training, maintenance test, pre-planned event)."),
    h("li", {}, `Tracks are coarse: they run through the centres of ${Math.round(log.track_grid_m)} m squares, so no address can be read from them. Height is above the ground at the drone's station.`),
    h("li", {}, `Times are local (${log.time_zone}). Call to scene is from the call reaching dispatch to the drone over the scene.`),
  );
}

function renderMonths(months) {
  const box = document.getElementById("months");
  if (!months.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No flights published yet."));
    return;
  }
  box.replaceChildren(h("table", { class: "months" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Month"), h("th", { scope: "col" }, "Flights"),
      h("th", { scope: "col" }, "Median call to scene"), h("th", { scope: "col" }, "Flights by category"))),
    h("tbody", {}, ...months.map((m) => h("tr", { "data-month": m.month },
      h("th", { scope: "row", "data-label": "Month" }, monthName(m.month)),
      h("td", { class: "num", "data-label": "Flights" }, String(m.flights)),
      h("td", { class: "num", "data-label": "Median call to scene" }, minutes(m.median_call_to_scene_s)),
      h("td", { "data-label": "By category" }, h("ul", { class: "categories" },
        ...Object.entries(m.by_category).map(([name, n]) => h("li", {}, `${name}: `, h("span", { class: "num" }, String(n)))))))))));
}

function renderFlights(flights) {
  document.getElementById("flight-count").textContent = `(${flights.length})`;
  const box = document.getElementById("flights");
  if (!flights.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No flights published yet."));
    return;
  }
  const columns = ["Flight", "When", "Duration", "Station", "Category", "Priority", "Call to scene",
    "Distance", "Max height", "Video", "Evidence", "Track"];
  box.replaceChildren(h("table", { class: "flights" },
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...flights.map((f) => h("tr", { "data-flight-id": f.flight_id, "data-category": f.category },
      h("th", { scope: "row", "data-label": "Flight" }, `#${f.flight_id}`),
      h("td", { class: "when", "data-label": "When" }, h("span", { class: "date" }, f.date), " ",
        h("span", { class: "num times" }, `${hhmm(f.launched_at)}–${hhmm(f.landed_at)}`)),
      h("td", { class: "num", "data-label": "Duration" }, minutes(f.duration_s)),
      h("td", { "data-label": "Station" }, f.station),
      h("td", { class: "category", "data-label": "Category" }, f.category,
        f.outcome !== "completed" ? h("span", { class: "outcome" }, ` (${f.outcome})`) : null),
      h("td", { class: "num", "data-label": "Priority" }, f.priority == null ? "—" : `P${f.priority}`),
      h("td", { class: "num", "data-label": "Call to scene" }, minutes(f.call_to_scene_s)),
      h("td", { class: "num", "data-label": "Distance" }, km(f.distance_flown_m)),
      h("td", { class: "num", "data-label": "Max height" }, f.max_height_above_ground_m == null ? "—" : `${f.max_height_above_ground_m} m`),
      h("td", { "data-label": "Video recorded" }, yesNo(f.video_recorded)),
      h("td", { "data-label": "Held as evidence" }, yesNo(f.held_as_evidence, "held")),
      h("td", { class: "track", "data-label": "Track" }, trackSketch(f.track, f.flight_id)))))));
}

function renderFooter(log) {
  document.getElementById("footer").replaceChildren(
    h("p", {}, `${log.agency} · published ${log.generated_at.replace("T", " ")} · `,
      h("a", { href: location.href.split("#")[0] }, location.href.split("#")[0])),
  );
}

async function start() {
  document.getElementById("print-button").addEventListener("click", () => window.print());
  let log;
  try {
    const response = await fetch("/api/public/flights.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    log = await response.json();
  } catch (error) {
    document.getElementById("about").replaceChildren(
      h("li", { class: "error", role: "alert" }, `The flight log cannot be loaded now (${error.message}). Try again later.`));
    return;
  }
  document.getElementById("agency").textContent = `${log.agency}: drone flights`;
  document.title = `${log.agency}: drone flight log`;
  renderAbout(log);
  renderMonths(log.months);
  renderFlights(log.flights);
  renderFooter(log);
  document.body.dataset.loaded = "true";
}

start();
