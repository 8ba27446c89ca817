// Launch policies on the consoles: what the policies did with a call, a gunshot sensor's
// figures, and the countdown of a launch held for the pilot (the server decides when it
// runs out; the page only shows the time left).

import { h } from "/static/dom.js";

/** Whole seconds until `isoTime` (0 once past); null without a time. */
export function secondsLeft(isoTime) {
  if (!isoTime) return null;
  const t = Date.parse(isoTime);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/** "3 rounds · confidence 93%" for a gunshot sensor's call; null for other calls. */
export function sensorFacts(call) {
  if (!call || (call.rounds == null && call.confidence == null)) return null;
  const parts = [];
  if (call.rounds != null) parts.push(`${call.rounds} round${call.rounds === 1 ? "" : "s"}`);
  if (call.confidence != null) parts.push(`confidence ${Math.round(call.confidence * 100)}%`);
  return parts.join(" · ");
}

/** True for a sortie a launch policy launched (not one a pilot confirmed). */
export function launchedByPolicy(sortie) {
  return Boolean(sortie && sortie.policy && (sortie.launched_by || "").startsWith("policy:"));
}

const HEADLINE = {
  launched: (p) => `Auto-launched by policy ${p}`,
  awaiting_pilot: (p) => `Held by policy ${p} for the pilot's confirmation`,
  left: (p) => `Policy ${p} matched; left for a dispatcher`,
  expired: (p) => `Policy ${p}: the launch expired`,
  declined: (p) => `Policy ${p}: the pilot declined the launch`,
  aborted: (p) => `Policy ${p}: the launch was aborted`,
  not_matched: () => "No launch policy took this call",
};

/** What the launch policies did with a call, as a paragraph; null when nothing. */
export function policyNote(call) {
  if (!call || !call.policy_outcome) return null;
  const headline = (HEADLINE[call.policy_outcome] || (() => call.policy_outcome))(call.policy);
  return h("div", {
    class: "policy-note", id: "call-policy", "data-outcome": call.policy_outcome, "data-policy": call.policy || "",
  },
  h("strong", {}, headline),
  call.policy_reason ? h("div", { class: "muted" }, call.policy_reason) : null);
}

/** Keep every element with data-countdown-until="<iso time>" showing the seconds left. */
export function startCountdowns(root = document) {
  const tick = () => {
    for (const element of root.querySelectorAll("[data-countdown-until]")) {
      const left = secondsLeft(element.dataset.countdownUntil);
      element.textContent = left == null ? "" : `${left} s`;
      element.dataset.secondsLeft = left == null ? "" : String(left);
    }
  };
  tick();
  return setInterval(tick, 250);
}
