// How every console page starts: check who is signed in (or read the share link), load
// who that is, the deployment and the sortie states, let the page set itself up, then
// open the live socket, route its messages by type and show its state in the header.

import { showPageError } from "/static/alerts.js";
import { api, useToken } from "/static/api.js";
import { h } from "/static/dom.js";
import {
  CONSOLES, getSession, logout, redirectToLogin, requireSession, ROLE_CONSOLES, shareLinkToken,
} from "/static/session.js";
import { connectionIndicator, connectSocket } from "/static/socket.js";

/** The server's sortie states (GET /api/sortie-states): the one list of which states end a sortie. */
export class SortieStates {
  constructor({ states = [], final = [], before_launch: beforeLaunch = [] } = {}) {
    this.states = states;
    this.final = new Set(final);
    this.beforeLaunch = new Set(beforeLaunch);
  }

  /** True once a sortie in this state is over: its drone is released. */
  hasEnded(state) {
    return this.final.has(state);
  }
}

/** Fill a console's top bar: who is logged in, the consoles of the role, log out. */
function consoleHeader(session, current) {
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
}

function shareLinkExpired(reason) {
  showPageError("This link no longer works", `${reason}. Ask the dispatcher for a new link.`);
}

const reload = () => location.reload();

/**
 * Start a console page.
 *
 * - `name`: the console ("dispatcher", "pilot", "wall"); the signed-in role must include it.
 * - `shareLink`: the page works with an officer's share link (`?token=`) instead of a session.
 * - `title`: how errors name the page ("The pilot console" → "The pilot console cannot start").
 * - `airspace`: also load the deployment's airspace GeoJSON (pages with a map).
 * - `setup(context)`: the page's own start, once the data below is loaded; it may be async,
 *   and returning false stops the start (the page has shown why).
 * - `onEvent`: {type: handler(message)} for the socket's messages; other types are ignored.
 *
 * `context` is {session, token, me, deployment, airspace, sortieStates, setConnection}
 * (session is null on a share link). Resolves to it, with `socket`, once the socket is
 * opening; resolves to null when the page went to the login page or shows an error instead.
 */
export async function startConsole({
  name = null, shareLink = false, title = "This console", airspace = false, setup = () => {}, onEvent = {},
}) {
  let session = null;
  let token;
  let setConnection;
  let onAuthFailed;
  const officerSession = shareLink && !shareLinkToken() ? getSession() : null;
  if (officerSession && officerSession.role === "officer") {
    // An officer's own account on the phone view (no share link): "drone to me".
    session = officerSession;
    token = session.token;
    setConnection = connectionIndicator(document.getElementById("conn"));
    onAuthFailed = redirectToLogin;
    useToken(token, { whenUnauthorized: redirectToLogin });
  } else if (shareLink) {
    setConnection = connectionIndicator(document.getElementById("conn"));
    token = shareLinkToken();
    if (!token) {
      showPageError("This link is incomplete", "Open the full link the dispatcher sent; it carries an access code.");
      return null;
    }
    onAuthFailed = shareLinkExpired;
    useToken(token, { whenUnauthorized: (error) => shareLinkExpired(error.detail) });
  } else {
    session = requireSession(name);
    if (!session) return null;
    token = session.token;
    consoleHeader(session, name);
    setConnection = connectionIndicator(document.getElementById("conn"));
    onAuthFailed = redirectToLogin;
    useToken(token, { whenUnauthorized: redirectToLogin });
  }

  let started;
  try {
    const [me, deployment, states, airspaceJson] = await Promise.all([
      api("/api/me", { quiet: true }),
      api("/api/deployment", { quiet: true }),
      api("/api/sortie-states", { quiet: true }),
      airspace ? api("/api/airspace", { quiet: true }) : null,
    ]);
    started = {
      session, token, me, deployment, airspace: airspaceJson, sortieStates: new SortieStates(states), setConnection,
    };
  } catch (error) {
    setConnection("offline");
    // A refused token has gone to the login page, or explained the expired link, already.
    if (error.status !== 401) {
      showPageError(shareLink ? "Cannot reach the server" : `${title} cannot start`, error.detail || String(error), {
        retry: reload,
      });
    }
    return null;
  }

  const deploymentName = document.getElementById("deployment-name");
  if (deploymentName) deploymentName.textContent = started.deployment.name;
  try {
    if ((await setup(started)) === false) return null;
  } catch (error) {
    console.error(error.stack || error);
    setConnection("offline");
    showPageError(shareLink ? "Something went wrong" : `${title} failed`, error.message || String(error), {
      retry: reload,
    });
    return null;
  }

  started.socket = connectSocket({
    token,
    onMessage: (message) => {
      if (Object.hasOwn(onEvent, message.type)) onEvent[message.type](message);
    },
    onState: setConnection,
    onAuthFailed,
  });
  return started;
}
