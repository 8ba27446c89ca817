// Who is using this tab: the stored session, the consoles of each role, the login
// redirect, and an officer's share-link token.

import { showPageError } from "/static/alerts.js";

const SESSION_KEY = "dfr.session";

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
  officer: { path: "/officer", title: "Drone to me", text: "Ask for a drone at your position, watch it, let it follow you" },
};

export const ROLE_CONSOLES = {
  dispatcher: ["dispatcher", "wall"],
  pilot: ["pilot", "dispatcher", "wall"],
  rtcc: ["wall", "dispatcher"],
  admin: ["dispatcher", "pilot", "wall"],
  officer: ["officer"],
};

/** Leave for the login page, which comes back to this page once logged in. */
export function redirectToLogin() {
  location.replace(`/?next=${encodeURIComponent(location.pathname)}`);
}

/** The session of a console page, or a redirect to the login page (returns null then). */
export function requireSession(consoleName) {
  const session = getSession();
  if (!session) {
    redirectToLogin();
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

/** End the session on the server too (its token stops working), then leave for the login page. */
export async function logout() {
  const session = getSession();
  clearSession();
  if (session) {
    try {
      await fetch("/api/logout", { method: "POST", headers: { Authorization: `Bearer ${session.token}` } });
    } catch {
      // The server is out of reach: the token is forgotten here and expires there.
    }
  }
  location.assign("/");
}

/** The access code of an officer's share link: in the fragment (`#token=...`, which the
 * browser never sends to a server), or in the query of a link from an older dfr; or null. */
export function shareLinkToken() {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
  return fromFragment || new URLSearchParams(location.search).get("token");
}
