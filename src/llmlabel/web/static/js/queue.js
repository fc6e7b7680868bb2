// The list view: the team's review queue as a table (filter, sort, open a row for review),
// bulk approve of the filtered waiting items after a confirmation that states the count,
// and the reviewer's own recent decisions with what they changed (undo while allowed).

import { api, initSession } from "./api.js";
import { $, $$, ago, h, num, replace, toast } from "./dom.js";
import { viewFor } from "./views/index.js";

const FILTERS = { batch_id: "#f-batch", task: "#f-task", reason: "#f-reason", label: "#f-label", state: "#f-state",
  min_confidence: "#f-min", max_confidence: "#f-max" };
const CHOICES = { batch_id: "batches", task: "tasks", reason: "reasons", label: "labels" };
const RESUME = "llmlabel.review.resume";
const state = { me: null, sort: "age", order: "asc", page: null, pending: [] };

initSession(start);

function start(me) {
  state.me = me;
  for (const selector of Object.values(FILTERS)) $(selector).addEventListener("change", load);
  $("#filters").addEventListener("reset", () => setTimeout(load));
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  for (const th of $$("#queue-table th[data-sort]")) {
    $("button", th).addEventListener("click", () => sortBy(th.dataset.sort));
  }
  $("#queue-refresh").addEventListener("click", () => { load(); loadHistory(); });
  $("#bulk-approve").addEventListener("click", askBulk);
  $("#bulk-yes").addEventListener("click", bulkApprove);
  $("#bulk-no").addEventListener("click", closeBulk);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#bulk-confirm").hidden) closeBulk(); });
  $("#bulk-approve").disabled = !me.can_review;
  load();
  loadHistory();
}

function sortBy(column) {
  state.order = state.sort === column && state.order === "asc" ? "desc" : "asc";
  state.sort = column;
  for (const th of $$("#queue-table th[data-sort]")) {
    if (th.dataset.sort === column) th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  load();
}

function query(extra = {}) {
  const params = new URLSearchParams({ sort: state.sort, order: state.order, limit: "1000", ...extra });
  for (const [name, selector] of Object.entries(FILTERS)) {
    const value = $(selector).value.trim();
    if (value !== "") params.set(name, value);
  }
  return params;
}

const summary = (task, label) => (label ? viewFor(task).summarize(label) : "no label");

async function load() {
  let page;
  try {
    page = await api("GET", `/v1/review/items?${query()}`);
  } catch (err) {
    replace($("#queue-table tbody"), h("tr", {}, h("td", { colspan: 8, class: "error" }, err.message)));
    return;
  }
  state.page = page;
  for (const [name, key] of Object.entries(CHOICES)) {
    const select = $(FILTERS[name]);
    const chosen = select.value;
    replace(select, h("option", { value: "" }, "All"),
      page[key].map((v) => h("option", { value: v, selected: v === chosen }, v)));
  }
  replace($("#queue-table tbody"), page.items.length ? page.items.map((r) => h("tr", {
    class: "row-open", tabindex: 0, dataset: { itemId: r.item_id, state: r.state },
    onclick: () => open(r), onkeydown: (e) => { if (e.key === "Enter") open(r); },
  },
  h("td", { class: "mono" }, r.id, h("br"), h("span", { class: "muted small" }, r.item_id)),
  h("td", {}, r.task),
  h("td", { class: "mono small" }, r.batch_id),
  h("td", { class: "small" }, r.reason || "—"),
  h("td", { class: "num confidence" }, num(r.confidence, 2)),
  h("td", { class: "small" }, summary(r.task, r.label)),
  h("td", { class: "small age", title: new Date(r.waiting_since * 1000).toLocaleString() },
    r.waiting_since ? ago(r.waiting_since) : "—"),
  h("td", {}, r.state === "in_review"
    ? h("span", { class: "pill" }, `held by ${r.reviewer || "someone"}`)
    : h("span", { class: "pill pill-ok" }, "waiting"))))
    : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "Nothing matches the filters.")));
  state.pending = page.items.filter((r) => r.state === "needs_review" && r.label !== null).map((r) => r.item_id);
  $("#queue-count").textContent = `${page.total} shown of ${page.scanned} in the queue` +
    (page.truncated ? " (the oldest 5000 were read)" : "") + ` · ${state.pending.length} can be approved`;
  $("#bulk-approve").disabled = !state.me.can_review || state.pending.length === 0;
}

function open(row) {
  window.location.href = `/ui/review?item=${encodeURIComponent(row.item_id)}`;
}

// -- bulk approve --------------------------------------------------------------------

function askBulk() {
  if (!state.pending.length) return;
  const n = state.pending.length;
  const held = state.page.items.length - n;
  $("#bulk-title").textContent = `Approve ${n} item${n === 1 ? "" : "s"}?`;
  $("#bulk-text").textContent = `${n} waiting item${n === 1 ? "" : "s"} matching the filters will be approved with the LLM's label, ` +
    `each audited as your decision.${held > 0 ? ` ${held} other row(s) (held by a reviewer, or without a label) stay as they are.` : ""}`;
  $("#bulk-confirm").dataset.count = String(n);
  $("#bulk-confirm").hidden = false;
  $("#bulk-yes").focus();
}

function closeBulk() {
  $("#bulk-confirm").hidden = true;
  $("#bulk-approve").focus();
}

async function bulkApprove() {
  const ids = state.pending;
  closeBulk();
  try {
    const result = await api("POST", "/v1/review/bulk-approve", { item_ids: ids });
    toast(`Approved ${result.approved} of ${result.requested}` +
      (result.skipped.length ? ` (${result.skipped.length} had moved on meanwhile)` : "") + ".", "ok");
  } catch (err) {
    toast(`Bulk approve failed: ${err.message}`, "error");
  }
  load();
  loadHistory();
}

// -- history ---------------------------------------------------------------------------

function change(entry) {
  const task = entry.task || "";
  const before = entry.before || {};
  const after = entry.after || {};
  const was = summary(task, before.label);
  const now = summary(task, after.label);
  return h("span", { class: "change-text" },
    h("span", { class: "muted" }, `${before.state || "?"} → ${after.state || "?"}: `),
    was === now ? h("span", {}, `${now} (label kept)`) : [h("del", {}, was), " → ", h("ins", {}, now)]);
}

async function loadHistory() {
  if (!state.me.can_review) {
    replace($("#history"), h("p", { class: "muted" }, "History and undo need a reviewer key."));
    return;
  }
  try {
    const { entries, undo_window_s: window } = await api("GET", "/v1/review/history?limit=50");
    $("#history-note").textContent = `undo possible for ${Math.round(window / 60)} min after a decision`;
    replace($("#history"), entries.length ? h("table", { class: "table compact", id: "history-table" },
      h("thead", {}, h("tr", {}, ["When", "Action", "Item", "Task", "What changed", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, entries.map((e) => h("tr", { dataset: { itemId: e.item_id, action: e.action } },
        h("td", { class: "small muted" }, ago(e.at)),
        h("td", {}, e.action.replace("review.", ""), e.bulk ? h("span", { class: "pill" }, "bulk") : null),
        h("td", { class: "mono small" }, e.id || e.item_id),
        h("td", {}, e.task || "—"),
        h("td", {}, change(e)),
        h("td", {}, e.undoable ? h("button", { class: "small undo", onclick: () => undo(e) }, "Undo") : null)))))
      : h("p", { class: "muted" }, "No decisions yet."));
  } catch (err) {
    replace($("#history"), h("p", { class: "error" }, err.message));
  }
}

async function undo(entry) {
  try {
    const result = await api("POST", `/v1/review/items/${encodeURIComponent(entry.item_id)}/undo`);
    if (result.claim) {
      // Back in your hands under a new lease: continue on the review page.
      sessionStorage.setItem(RESUME, JSON.stringify(result.claim));
      window.location.href = "/ui/review";
      return;
    }
    toast(`Undone: ${result.item.id} is back in the queue.`, "ok");
  } catch (err) {
    toast(`Undo failed: ${err.message}`, "error");
  }
  load();
  loadHistory();
}
