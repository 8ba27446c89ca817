// What the pages tell the user: toasts, the alert banner, a page that cannot work, and
// the question asked before something that cannot be undone.

import { h } from "/static/dom.js";

const DANGER_LEVELS = ["critical", "error", "danger", "emergency"];

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

/**
 * Ask why, for something the audit log keeps with its reason; resolves the reason
 * (at least `minLength` characters) or null when cancelled.
 */
export function askReason(title, message, confirmLabel = "Confirm", minLength = 3) {
  return new Promise((resolve) => {
    const field = h("textarea", {
      id: "reason-text", rows: 3, maxlength: 500, required: true, "aria-labelledby": "reason-label",
    });
    const ok = h("button", { class: "primary", type: "button", "data-action": "confirm", disabled: true }, confirmLabel);
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "reason-title" },
      h("h3", { id: "reason-title" }, title),
      h("p", { id: "reason-label" }, message),
      field,
      h("div", { class: "actions" },
        h("button", { class: "small", type: "button", "data-action": "cancel" }, "Cancel"),
        ok));
    let answered = false;
    const finish = (reason) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(reason);
    };
    field.addEventListener("input", () => { ok.disabled = field.value.trim().length < minLength; });
    dialog.querySelector("[data-action=cancel]").addEventListener("click", () => finish(null));
    ok.addEventListener("click", () => finish(field.value.trim()));
    dialog.addEventListener("cancel", () => finish(null));
    document.body.append(dialog);
    dialog.showModal();
    field.focus();
  });
}

/**
 * An `alert` message of the console socket as {droneId, text, level}: level is "danger"
 * for the server's critical severities, else "warn".
 */
export function serverAlert(message) {
  const alert = message.alert || message;
  return {
    droneId: alert.drone_id || null,
    text: alert.message || alert.text || alert.detail || alert.kind || "alert",
    level: DANGER_LEVELS.includes(alert.level || alert.severity) ? "danger" : "warn",
  };
}

/**
 * The alert banner: one item per active alert {key, text, level}, each dismissed with its
 * ✕ until its condition clears. An acknowledged condition that clears and comes back
 * alerts again.
 */
export class AlertBanner {
  constructor(element) {
    this.element = element;
    this.alerts = [];
    this.acknowledged = new Set();
  }

  show(alerts) {
    this.alerts = alerts;
    const live = new Set(alerts.map((a) => a.key));
    for (const key of this.acknowledged) if (!live.has(key)) this.acknowledged.delete(key);
    const shown = alerts.filter((a) => !this.acknowledged.has(a.key));
    this.element.dataset.count = shown.length;
    this.element.dataset.level = shown.some((a) => a.level === "danger") ? "danger" : shown.length ? "warn" : "";
    if (!shown.length) {
      this.element.replaceChildren(h("span", { class: "muted" }, "No active alerts"));
      return;
    }
    this.element.replaceChildren(...shown.map((a) => h("span", { class: `alert ${a.level}`, "data-alert": a.key },
      a.text,
      h("button", {
        class: "ack", type: "button", title: "Acknowledge", "aria-label": `Acknowledge: ${a.text}`,
        onclick: () => {
          this.acknowledged.add(a.key);
          this.show(this.alerts);
        },
      }, "✕"))));
  }
}
