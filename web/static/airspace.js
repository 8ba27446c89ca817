// The deployment's airspace on a Leaflet map: the operational area, no-fly and ceiling
// zones with their buffers and labels, named areas (launch policies' zones), and the
// legend that explains the colours.

import { escapeHtml } from "/static/dom.js";
import { STATE_COLOR } from "/static/format.js";

const ZONE_STYLE = {
  operational_area: { color: "#3cc4ff", weight: 2.5, fill: false, dashArray: "8 6" },
  no_fly: { color: "#ff4d4f", weight: 2, fillColor: "#ff4d4f", fillOpacity: 0.38 },
  ceiling: { color: "#ff9a3c", weight: 2, fillColor: "#ff9a3c", fillOpacity: 0.3 },
  area: { color: "#c38bff", weight: 2, fill: false, dashArray: "3 6" },
};
const BUFFER_COLOR = { no_fly: "#ff8f90", ceiling: "#ffc38f" };
// The operational area underneath, named areas, then ceilings, then no-fly zones on top.
const DRAW_ORDER = { operational_area: 0, area: 1, ceiling: 2, no_fly: 3 };

function metresPerPixel(map, latitudeDeg) {
  return (40075016.686 * Math.cos((latitudeDeg * Math.PI) / 180)) / 2 ** (map.getZoom() + 8);
}

function zoneLabel(props) {
  const name = props.name || props.kind;
  if (props.kind === "ceiling" && props.ceiling_m != null) return `${name} · ceiling ${props.ceiling_m} m`;
  if (props.kind === "no_fly") return `${name} · no fly`;
  if (props.kind === "area") return `${name} · launch policy zone`;
  return name;
}

function operationalArea(airspace) {
  return ((airspace && airspace.features) || []).find((f) => (f.properties || {}).kind === "operational_area");
}

/** A key to the map's colours, folded by default so it does not hide the map. */
export function legend(airspace) {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const area = operationalArea(airspace);
    const features = (airspace && airspace.features) || [];
    const box = L.DomUtil.create("details", "map-legend");
    box.innerHTML = `<summary>Legend</summary>
      <div><i class="swatch area"></i>${escapeHtml(area ? area.properties.name || "Operational area" : "Operational area")}</div>
      <div><i class="swatch no-fly"></i>No-fly zone <i class="swatch buffer"></i>buffer</div>
      <div><i class="swatch ceiling"></i>Altitude ceiling</div>
      ${features.some((f) => (f.properties || {}).kind === "area") ? '<div><i class="swatch named-area"></i>Named area (launch policies)</div>' : ""}
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
export function areaBounds(airspace, deployment) {
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
 * Draw the airspace GeoJSON on `map` in a pane of its own, labelled unless `labels` is false.
 * Returns the buffers [{layer, buffer_m}] that refreshBuffers keeps to scale.
 */
export function drawAirspace(map, geojson, labels) {
  const buffers = [];
  const pane = map.createPane("airspace");
  pane.style.zIndex = 350;
  const features = (geojson.features || []).slice();
  features.sort((a, b) => (DRAW_ORDER[a.properties.kind] ?? 4) - (DRAW_ORDER[b.properties.kind] ?? 4));
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
        }).addTo(map);
      }
      shape = L.circle([lat, lon], { ...style, radius, className: `zone ${kind}` }).addTo(map);
    } else {
      const layer = L.geoJSON(feature, { style: () => ({ ...style, className: `zone ${kind}` }) });
      if (buffer > 0 && BUFFER_COLOR[kind]) {
        const bufferLayer = L.geoJSON(feature, {
          style: () => ({
            pane: "airspace", interactive: false, color: BUFFER_COLOR[kind],
            fillColor: BUFFER_COLOR[kind], opacity: 1, fillOpacity: 1, lineJoin: "round",
            weight: 1, className: `zone-buffer ${kind}`,
          }),
        }).addTo(map);
        bufferLayer.eachLayer((l) => buffers.push({ layer: l, buffer_m: buffer }));
      }
      shape = layer.addTo(map);
    }
    // The operational area is named in the legend; a label in its middle would hide the city.
    if (labels && kind !== "operational_area") {
      shape.bindTooltip(escapeHtml(zoneLabel(props)), {
        permanent: true, direction: "right", offset: [10, 0], className: `zone-label ${kind}`, interactive: false,
      });
    }
  }
  return buffers;
}

/** A zone's buffer is drawn as a stroke twice its width in metres, rescaled to the zoom. */
export function refreshBuffers(map, buffers) {
  if (!map._loaded) return;
  const mpp = metresPerPixel(map, map.getCenter().lat);
  for (const { layer, buffer_m: buffer } of buffers) {
    layer.setStyle({ weight: Math.max(1, (2 * buffer) / mpp) });
  }
}
