// Operator actions of the operator page: upload gold items from a JSONL file, and
// download a batch in any export format (the formats come from the server).

import { api, problemErrors, session } from "./api.js";
import { $, h, replace, toast } from "./dom.js";

const state = { me: null, formats: [], batches: [] };

document.addEventListener("llmlabel:signed-in", (event) => {
  state.me = event.detail;
  $("#gold-upload-form").addEventListener("submit", uploadGold);
  $("#export-batch").addEventListener("change", showFormats);
  $("#export-form").addEventListener("submit", download);
  loadChoices();
});

async function loadChoices() {
  try {
    const [{ tasks }, { formats }, { batches }] = await Promise.all([
      api("GET", "/v1/tasks"), api("GET", "/v1/exports/formats"), api("GET", "/v1/batches?limit=100")]);
    state.formats = formats;
    state.batches = batches;
    replace($("#gold-task"), tasks.map((t) => h("option", { value: t.task }, t.task)));
    replace($("#export-batch"), batches.map((b) => h("option", { value: b.id, dataset: { task: b.task } },
      `${b.task} · ${b.id} · ${b.done}/${b.total} final`)));
    showFormats();
  } catch (err) {
    toast(`Operator actions: ${err.message}`, "error");
  }
  const canOperate = state.me.can_operate;
  $("#gold-upload").disabled = !canOperate;
  if (!canOperate) $("#gold-result").textContent = "Uploading gold items needs an operator key.";
}

// -- gold upload ------------------------------------------------------------------------

/** Gold items from JSONL text: one {"input": ..., "label": ..., "id"?: ...} per line. */
export function parseGoldLines(text) {
  const items = [];
  const lines = [];
  const errors = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const value = JSON.parse(line);
      if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
      items.push(value);
      lines.push(i + 1);
    } catch (err) {
      errors.push(`line ${i + 1}: ${err.message}`);
    }
  });
  return { items, lines, errors };
}

async function uploadGold(event) {
  event.preventDefault();
  const file = $("#gold-file").files[0];
  const result = $("#gold-result");
  if (!file) { result.textContent = "Choose a .jsonl file first."; return; }
  const { items, lines, errors } = parseGoldLines(await file.text());
  if (errors.length || !items.length) {
    replace(result, h("span", { class: "error" }, errors.length ? errors.slice(0, 10).join(" · ") : "The file holds no items."));
    return;
  }
  try {
    const uploaded = await api("POST", "/v1/gold", { task: $("#gold-task").value, items });
    replace(result, h("span", { id: "gold-uploaded" },
      `Stored ${uploaded.count} gold item(s) for ${uploaded.task} (guideline ${uploaded.guideline_version}); the LLM labels them in the background.`));
    toast(`Uploaded ${uploaded.count} gold item(s).`, "ok");
    $("#gold-file").value = "";
  } catch (err) {
    // The API names items.<i>.<field>: say which line of the file that is.
    const details = problemErrors(err).map((text) => text.replace(/^items\.(\d+)/, (_, i) => `line ${lines[Number(i)] ?? Number(i) + 1}`));
    replace(result, h("span", { class: "error" }, [err.message, ...details.slice(0, 10)].join(" · ")));
  }
}

// -- export download ------------------------------------------------------------------------

function showFormats() {
  const option = $("#export-batch").selectedOptions[0];
  const task = option ? option.dataset.task : null;
  replace($("#export-format"), state.formats.filter((f) => task && f.tasks.includes(task)).map((f) =>
    h("option", { value: f.name, title: f.description }, `${f.name} — ${f.description}`)));
}

async function download(event) {
  event.preventDefault();
  const batch = $("#export-batch").value;
  const format = $("#export-format").value;
  if (!batch || !format) return;
  const params = new URLSearchParams({ format });
  if ($("#export-pending").checked) params.set("include_pending", "true");
  const note = $("#export-result");
  // The export streams with the bearer key, so a plain link cannot fetch it.
  const response = await fetch(`/v1/batches/${encodeURIComponent(batch)}/export?${params}`, {
    headers: { Authorization: `Bearer ${session.key}` },
  });
  if (!response.ok) {
    // A 422 lists every item the format cannot hold: nothing was sent, say which.
    let problem = { detail: `HTTP ${response.status}` };
    try { problem = await response.json(); } catch { /* not JSON */ }
    const items = (problem.errors || []).filter((e) => e.item).map((e) => `${e.item}${e.field ? ` (${e.field})` : ""}: ${e.message}`);
    replace(note, h("span", { class: "error", id: "export-failed" }, `Download failed: ${problem.detail || problem.title}`),
      items.length ? h("ul", { class: "small" }, items.slice(0, 20).map((t) => h("li", {}, t))) : null);
    return;
  }
  const blob = await response.blob();
  const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
  const file = name ? name[1] : `${batch}.${(state.formats.find((f) => f.name === format) || {}).extension || "txt"}`;
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: file });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  const written = response.headers.get("x-export-written");
  let skipped = {};
  try { skipped = JSON.parse(response.headers.get("x-export-skipped") || "{}"); } catch { /* an older server */ }
  const left = Object.entries(skipped).map(([why, n]) => `${n} ${why}`);
  replace(note, h("span", { id: "export-done" }, `Downloaded ${file}: ${written ?? "?"} item(s) written`,
    left.length ? `; left out: ${left.join(", ")} (tick “Include labels still waiting” to add pending ones)` : "; nothing left out", "."));
}
