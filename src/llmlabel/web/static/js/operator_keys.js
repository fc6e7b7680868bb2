// API keys of the team on the operator page: list, create (the plain key is shown once),
// revoke after a confirmation. The routes are /v1/keys (operator or admin keys).

import { api } from "./api.js";
import { $, ago, h, replace, toast } from "./dom.js";

const ROLES = ["submitter", "reviewer", "operator", "admin"];
const state = { me: null, confirming: null };

document.addEventListener("llmlabel:signed-in", (event) => {
  state.me = event.detail;
  if (!state.me.can_operate) {
    replace($("#keys-list"), h("p", { class: "muted" }, "Managing keys needs an operator key."));
    $("#key-create").disabled = true;
    return;
  }
  replace($("#key-role"), ROLES.filter((r) => r !== "admin" || state.me.role === "admin")
    .map((r) => h("option", { value: r }, r)));
  $("#key-form").addEventListener("submit", createKey);
  $("#keys-revoked").addEventListener("change", loadKeys);
  loadKeys();
});

const when = (t) => (t ? h("span", { title: new Date(t * 1000).toLocaleString() }, ago(t)) : "—");

async function loadKeys() {
  try {
    const revoked = $("#keys-revoked").checked ? "&include_revoked=true" : "";
    const { keys } = await api("GET", `/v1/keys?limit=200${revoked}`);
    replace($("#keys-list"), h("table", { class: "table compact", id: "keys-table" },
      h("thead", {}, h("tr", {}, ["Key", "Name", "Role", "State", "Created", "Last used", "Expires", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, keys.map((k) => h("tr", { dataset: { keyId: k.key_id, state: k.state } },
        h("td", { class: "mono small" }, k.key_id, k.key_id === state.me.key_id ? h("span", { class: "pill" }, "this key") : null),
        h("td", {}, k.name || "—"),
        h("td", {}, h("span", { class: "pill pill-role" }, k.role)),
        h("td", { class: "key-state" }, k.state),
        h("td", { class: "small muted" }, when(k.created_at)),
        h("td", { class: "small muted" }, when(k.last_used_at)),
        h("td", { class: "small muted" }, k.expires_at ? new Date(k.expires_at * 1000).toLocaleDateString() : "never"),
        h("td", {}, k.state === "active" && k.key_id !== state.me.key_id ? revokeButton(k) : null))))));
  } catch (err) {
    replace($("#keys-list"), h("p", { class: "error" }, err.message));
  }
}

function revokeButton(key) {
  const confirming = state.confirming === key.key_id;
  return h("button", {
    class: `small danger revoke${confirming ? " confirm" : ""}`, dataset: { keyId: key.key_id },
    "aria-label": confirming ? `Confirm: revoke ${key.name || key.key_id}` : `Revoke ${key.name || key.key_id}`,
    onclick: () => (confirming ? revoke(key) : askRevoke(key)),
  }, confirming ? "Confirm revoke" : "Revoke");
}

// A first click arms the button; the second revokes (Escape or any other row disarms it).
function askRevoke(key) {
  state.confirming = key.key_id;
  toast(`Press “Confirm revoke” to refuse ${key.name || key.key_id} from its next request on.`, "warn");
  loadKeys().then(() => { const b = $(`button.revoke[data-key-id='${key.key_id}']`); if (b) b.focus(); });
}

async function revoke(key) {
  state.confirming = null;
  try {
    const revoked = await api("DELETE", `/v1/keys/${encodeURIComponent(key.key_id)}`);
    toast(`Revoked ${revoked.name || revoked.key_id}.`, "ok");
  } catch (err) {
    toast(`Revoke failed: ${err.message}`, "error");
  }
  loadKeys();
}

async function createKey(event) {
  event.preventDefault();
  const body = { role: $("#key-role").value };
  const name = $("#key-name").value.trim();
  const days = $("#key-days").value.trim();
  if (name) body.name = name;
  if (days) body.expires_in_days = Number(days);
  try {
    const created = await api("POST", "/v1/keys", body);
    replace($("#key-created"),
      h("p", {}, `New ${created.role} key ${created.name ? `“${created.name}” ` : ""}(${created.key_id}). Copy it now: it is not shown again.`),
      h("input", { type: "text", id: "key-plain", readonly: true, value: created.key, class: "mono", "aria-label": "The new key" }));
    $("#key-plain").select();
    $("#key-form").reset();
  } catch (err) {
    replace($("#key-created"), h("p", { class: "error" }, err.message));
  }
  loadKeys();
}
