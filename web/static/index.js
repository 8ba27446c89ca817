// The login page: username and password in, then links to the consoles the role may open.

import { api, useToken } from "/static/api.js";
import { h } from "/static/dom.js";
import { clearSession, CONSOLES, getSession, ROLE_CONSOLES, setSession } from "/static/session.js";
import { connectionIndicator } from "/static/socket.js";

const loginSection = document.getElementById("login");
const signedIn = document.getElementById("signed-in");
const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");
const button = document.getElementById("login-button");

function showLogin() {
  signedIn.classList.add("hidden");
  loginSection.classList.remove("hidden");
  document.getElementById("username").focus();
}

function showConsoles(session) {
  loginSection.classList.add("hidden");
  signedIn.classList.remove("hidden");
  document.getElementById("who-name").textContent = session.name;
  document.getElementById("who-role").textContent = session.role;
  const names = ROLE_CONSOLES[session.role] || [];
  const list = document.getElementById("consoles");
  list.replaceChildren(...names.map((name) => {
    const c = CONSOLES[name];
    return h("a", { href: c.path, "data-console": name }, h("strong", {}, c.title), h("span", { class: "muted" }, c.text));
  }));
  if (!names.length) {
    list.append(h("p", {}, "This role has no console here. Officers open the link a dispatcher shares."));
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.classList.add("hidden");
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    errorBox.textContent = "Enter your username and password.";
    errorBox.classList.remove("hidden");
    return;
  }
  button.disabled = true;
  button.textContent = "Logging in…";
  try {
    const result = await api("/api/login", { method: "POST", body: { username, password }, quiet: true });
    setSession({ token: result.token, name: result.name, role: result.role });
    const next = new URLSearchParams(location.search).get("next");
    const allowed = (ROLE_CONSOLES[result.role] || []).map((n) => CONSOLES[n].path);
    if (next && allowed.includes(next)) {
      location.assign(next);
      return;
    }
    showConsoles(getSession());
  } catch (error) {
    errorBox.textContent = error.detail || String(error);
    errorBox.classList.remove("hidden");
    form.password.select();
  } finally {
    button.disabled = false;
    button.textContent = "Log in";
  }
});

document.getElementById("logout").addEventListener("click", () => {
  clearSession();
  showLogin();
});

/** The login page has no live feed: show whether the server answers, and its drones. */
async function checkServer() {
  const show = connectionIndicator(document.getElementById("conn"));
  try {
    const response = await fetch("/api/health", { cache: "no-store" });
    const health = await response.json();
    const drones = Object.values(health.drones || {});
    const online = drones.filter(Boolean).length;
    show(health.ok ? "live" : "reconnecting", "");
    document.getElementById("conn").textContent = health.ok
      ? `Server up · ${online} drone${online === 1 ? "" : "s"} online`
      : `Server up · drones connecting (${online}/${drones.length})`;
  } catch {
    show("offline");
    document.getElementById("conn").textContent = "Server unreachable";
  }
}

async function init() {
  checkServer();
  const session = getSession();
  if (!session) {
    showLogin();
    return;
  }
  // A stored token may have expired: check it before offering the consoles.
  useToken(session.token);
  try {
    await api("/api/me", { quiet: true });
    showConsoles(session);
  } catch (error) {
    if (error.status === 401) clearSession();
    showLogin();
    if (error.status !== 401) {
      errorBox.textContent = error.detail;
      errorBox.classList.remove("hidden");
    }
  }
}

init();
