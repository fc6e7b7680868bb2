// The JSON API client and the sign-in flow shared by the review and operator pages.
// The API key lives in sessionStorage: it is gone when the tab closes and is
// never sent anywhere but this server, as `Authorization: Bearer <key>`.

import { $, h, replace } from "./dom.js";

const KEY = "llmlabel.apiKey";

/** An API error carrying the RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem));
    this.status = status;
    this.problem = problem || {};
  }
}

function problemText(status, problem) {
  if (!problem || typeof problem !== "object") return `HTTP ${status}`;
  const base = problem.detail || problem.title || `HTTP ${status}`;
  return base;
}

/** Field-level messages of a validation problem: ["entities.0.end: 45 is past ..."]. */
export function problemErrors(error) {
  const list = (error && error.problem && error.problem.errors) || [];
  return list.map((e) => [e.field || e.loc, e.message || e.msg].filter(Boolean).join(": "));
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

let onUnauthorized = () => {};
let clockSkewMs = 0;

/** The server's time in ms (from the Date header of the last answer), for lease countdowns. */
export function serverNow() {
  return Date.now() + clockSkewMs;
}

/** Call the API; resolves to the JSON body (null for 204) or throws ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { detail: `the server did not answer (${err.message})` });
  }
  const date = Date.parse(response.headers.get("date") || "");
  // The header has whole seconds: only a skew beyond that is worth correcting.
  if (!Number.isNaN(date) && Math.abs(date - Date.now()) > 2000) clockSkewMs = date - Date.now();
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 200) }; }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return data;
}

/**
 * Wire the sign-in form and the session bar; call `onSignedIn(whoami)` once a key works.
 * Markup: #signin (with #signin-form, #api-key, #signin-error), #app, #session, #who, #sign-out.
 */
export function initSession(onSignedIn) {
  const signin = $("#signin");
  const app = $("#app");
  const bar = $("#session");
  const error = $("#signin-error");

  let signedIn = false;

  function showSignIn(message) {
    signedIn = false;
    document.body.classList.remove("signed-in");
    app.hidden = true;
    bar.hidden = true;
    signin.hidden = false;
    error.textContent = message || "";
    $("#api-key").focus();
  }

  async function start() {
    try {
      const me = await api("GET", "/v1/whoami");
      signedIn = true;
      document.body.classList.add("signed-in");
      signin.hidden = true;
      app.hidden = false;
      bar.hidden = false;
      replace($("#who"),
        h("span", { class: "who-name" }, me.name || me.key_id),
        h("span", { class: "pill" }, me.team),
        h("span", { class: "pill pill-role" }, me.role));
      onSignedIn(me);
      // Other modules of the page (operator sections) start from this event.
      document.dispatchEvent(new CustomEvent("llmlabel:signed-in", { detail: me }));
    } catch (err) {
      if (err.status !== 401) showSignIn(err.message);
    }
  }

  onUnauthorized = (err) => {
    session.clear();
    showSignIn(`${signedIn ? "Signed out" : "Sign-in failed"}: ${err.message}`);
  };

  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    session.set(key);
    $("#api-key").value = "";
    start();
  });
  $("#sign-out").addEventListener("click", () => {
    session.clear();
    window.location.reload();
  });

  if (session.key) start();
  else showSignIn();
}
