// The example pool of the open project on the operator page: reviewed items (approved,
// fixed) and imported gold with their final labels. Pin (always considered first),
// exclude (never used), edit a label (checked by the server), import the project's gold.
// Everything goes through /v1/projects/{name}/examples; nothing here is another team's.

import { api } from "./api.js";
import { $, h, replace, toast } from "./dom.js";
import { definitionErrors } from "./operator_projects.js";

const state = { me: null, project: null, cursor: null };
const enc = encodeURIComponent;

document.addEventListener("llmlabel:signed-in", (event) => {
  state.me = event.detail;
  $("#examples-import-gold").addEventListener("click", importGold);
  $("#examples-more").addEventListener("click", () => loadExamples(true));
  $("#examples-import-gold").disabled = !state.me.can_operate;
});

document.addEventListener("llmlabel:project-opened", (event) => {
  state.project = event.detail.name;
  loadExamples(false);
});

function base() {
  return `/v1/projects/${enc(state.project)}/examples`;
}

async function loadExamples(more) {
  if (!state.me || !state.me.can_operate) return;
  const body = $("#examples-table tbody");
  try {
    const query = more && state.cursor ? `?limit=20&cursor=${enc(state.cursor)}` : "?limit=20";
    const page = await api("GET", base() + query);
    state.cursor = page.next_cursor;
    const rows = page.examples.map(row);
    if (more) body.append(...rows); else replace(body, rows);
    $("#examples-more").hidden = !page.next_cursor;
    replace($("#examples-status"), body.children.length
      ? `${body.children.length} example(s) shown` : "The pool is empty: approved and fixed reviews enter it.");
  } catch (err) {
    toast(`Examples: ${err.message}`, "error");
  }
}

function text(value) {
  const shown = typeof value.text === "string" ? value.text : JSON.stringify(value);
  return shown.length > 120 ? `${shown.slice(0, 117)}…` : shown;
}

function row(example) {
  const label = h("input", { type: "text", class: "example-label", spellcheck: "false",
    value: JSON.stringify(example.label), "aria-label": `Label of ${example.id}` });
  const errors = h("ul", { class: "error definition-errors example-errors", role: "alert" });
  const tr = h("tr", { dataset: { exampleId: example.id },
    class: [example.pinned ? "pinned" : "", example.excluded ? "excluded" : ""].join(" ").trim() || null },
  h("td", { class: "mono small" }, example.id),
  h("td", {}, example.source + (example.edited ? " · edited" : "")),
  h("td", {}, text(example.input)),
  h("td", {}, label, errors),
  h("td", {},
    h("button", { type: "button", class: "small example-pin",
      onclick: () => update(example, { pinned: !example.pinned }, errors) }, example.pinned ? "Unpin" : "Pin"),
    h("button", { type: "button", class: "small example-exclude",
      onclick: () => update(example, { excluded: !example.excluded }, errors) }, example.excluded ? "Include" : "Exclude"),
    h("button", { type: "button", class: "small example-save", onclick: () => saveLabel(example, label, errors) }, "Save label")));
  return tr;
}

async function update(example, body, errors) {
  replace(errors);
  try {
    const updated = await api("PATCH", `${base()}/${enc(example.id)}`, body);
    $(`#examples-table tr[data-example-id="${CSS.escape(example.id)}"]`).replaceWith(row(updated));
  } catch (err) {
    replace(errors, definitionErrors(err));
  }
}

function saveLabel(example, input, errors) {
  let label;
  try {
    label = JSON.parse(input.value);
  } catch {
    replace(errors, h("li", {}, "label: not JSON"));
    return;
  }
  update(example, { label }, errors);
}

async function importGold() {
  try {
    const done = await api("POST", `${base()}/import-gold`);
    toast(`Imported ${done.imported} gold item(s) into the pool of ${done.project}.`, "ok");
    loadExamples(false);
  } catch (err) {
    toast(`Import gold: ${err.message}`, "error");
  }
}
