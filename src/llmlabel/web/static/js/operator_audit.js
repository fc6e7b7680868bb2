// The team's audit log on the operator page: filter by actor, action (or a prefix such as
// "review."), batch and time, newest first, a page at a time (GET /v1/audit, operators).

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";

const state = { cursor: null, rows: [] };

document.addEventListener("llmlabel:signed-in", (event) => {
  if (!event.detail.can_operate) {
    replace($("#audit-list"), h("p", { class: "muted" }, "The audit log needs an operator key."));
    return;
  }
  $("#audit-form").addEventListener("submit", (e) => { e.preventDefault(); load(false); });
  $("#audit-form").addEventListener("reset", () => setTimeout(() => load(false)));
  $("#audit-more").addEventListener("click", () => load(true));
  load(false);
});

function params(more) {
  const query = new URLSearchParams({ limit: "50" });
  for (const [name, selector] of [["actor", "#audit-actor"], ["action", "#audit-action"], ["batch_id", "#audit-batch"]]) {
    const value = $(selector).value.trim();
    if (value) query.set(name, value);
  }
  for (const [name, selector] of [["since", "#audit-since"], ["until", "#audit-until"]]) {
    const value = $(selector).value;
    if (value) query.set(name, String(Date.parse(value) / 1000));
  }
  if (more && state.cursor) query.set("cursor", state.cursor);
  return query;
}

const brief = (value) => {
  if (value === null || value === undefined) return "—";
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
};

async function load(more) {
  let page;
  try {
    page = await api("GET", `/v1/audit?${params(more)}`);
  } catch (err) {
    replace($("#audit-list"), h("p", { class: err.status === 404 ? "muted" : "error" },
      err.status === 404 && /no route/.test(err.message) ? "This server has no audit log route." : err.message));
    $("#audit-more").hidden = true;
    return;
  }
  state.rows = more ? [...state.rows, ...page.events] : page.events;
  state.cursor = page.next_cursor;
  $("#audit-more").hidden = !page.next_cursor;
  replace($("#audit-list"), state.rows.length ? h("table", { class: "table compact", id: "audit-table" },
    h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Item", "Before", "After", "Comment"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, state.rows.map((e) => h("tr", { dataset: { action: e.action } },
      h("td", { class: "small muted" }, new Date(e.at * 1000).toLocaleString()),
      h("td", { class: "small" }, e.actor),
      h("td", { class: "mono small" }, e.action),
      h("td", { class: "mono small" }, e.item_id || "—"),
      h("td", { class: "mono small" }, brief(e.before)),
      h("td", { class: "mono small" }, brief(e.after)),
      h("td", { class: "small" }, e.comment || "")))))
    : h("p", { class: "muted" }, "No events match."));
}
