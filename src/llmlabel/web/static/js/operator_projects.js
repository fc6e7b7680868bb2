// Projects on the operator page: create a project, add a guideline/prompt version
// (checked by the server; its errors shown inline with their line numbers), diff it
// against the active version, evaluate it on the project's gold items, activate it.
// Everything goes through /v1/projects; nothing here is another team's.

import { api } from "./api.js";
import { $, h, pct, replace, toast } from "./dom.js";

const state = { me: null, project: null, active: { guideline: "", prompt: "" }, pending: null, poll: null };

document.addEventListener("llmlabel:signed-in", (event) => {
  state.me = event.detail;
  $("#project-new-form").addEventListener("submit", createProject);
  $("#project-select").addEventListener("change", () => openProject($("#project-select").value));
  $("#version-form").addEventListener("submit", saveVersion);
  $("#version-diff-button").addEventListener("click", showDiff);
  $("#version-evaluate").addEventListener("click", evaluate);
  $("#version-activate").addEventListener("click", activate);
  for (const id of ["project-create", "version-save", "version-evaluate", "version-activate"]) {
    $(`#${id}`).disabled = !state.me.can_operate;
  }
  loadProjects();
  loadChoices();
});

const enc = encodeURIComponent;

/** A problem's errors as list items: "guideline line 3 · labels: Input should be a valid list". */
export function definitionErrors(err) {
  const entries = (err.problem && err.problem.errors) || [];
  if (!entries.length) return [h("li", {}, err.message)];
  return entries.map((e) => h("li", { dataset: { part: e.part || "", line: e.line ?? "" } },
    [e.part, e.line ? `line ${e.line}` : null].filter(Boolean).join(" ") || "request",
    " · ", [e.field, e.message].filter(Boolean).join(": ")));
}

async function loadChoices() {
  try {
    const [{ tasks }, { profiles }] = await Promise.all([api("GET", "/v1/tasks"), api("GET", "/v1/model-profiles")]);
    replace($("#project-task"), tasks.map((t) => h("option", { value: t.task }, t.task)));
    replace($("#project-profile"), profiles.map((p) => h("option", { value: p.name },
      `${p.name} (${p.backend}/${p.model})`)));
  } catch (err) {
    toast(`Projects: ${err.message}`, "error");
  }
}

async function loadProjects(select) {
  try {
    const { projects } = await api("GET", "/v1/projects");
    replace($("#project-select"), projects.length
      ? projects.map((p) => h("option", { value: p.name, selected: p.name === select }, `${p.name} (${p.task})`))
      : h("option", { value: "" }, "no project yet"));
    const name = select || (projects[0] && projects[0].name);
    if (name) openProject(name);
  } catch (err) {
    toast(`Projects: ${err.message}`, "error");
  }
}

async function createProject(event) {
  event.preventDefault();
  const errors = $("#project-errors");
  replace(errors);
  const body = {
    name: $("#project-name").value.trim(), task: $("#project-task").value,
    guideline: $("#project-guideline").value, prompt: $("#project-prompt").value,
    model_profile: $("#project-profile").value || null,
  };
  try {
    const project = await api("POST", "/v1/projects", body);
    toast(`Project ${project.name} created (guideline ${project.guideline_version}, prompt ${project.prompt_version}).`, "ok");
    $("#project-new").open = false;
    loadProjects(project.name);
  } catch (err) {
    replace(errors, definitionErrors(err));
  }
}

async function openProject(name) {
  if (!name) return;
  try {
    const project = await api("GET", `/v1/projects/${enc(name)}`);
    const [g, p] = await Promise.all([
      api("GET", `/v1/projects/${enc(name)}/versions/guideline/${enc(project.guideline_version)}`),
      api("GET", `/v1/projects/${enc(name)}/versions/prompt/${enc(project.prompt_version)}`)]);
    state.project = project;
    state.active = { guideline: g.text, prompt: p.text };
    $("#version-guideline").value = g.text;
    $("#version-prompt").value = p.text;
    showActive(project);
    setPending(null);
    $("#project-detail").hidden = false;
    document.dispatchEvent(new CustomEvent("llmlabel:project-opened", { detail: project }));
  } catch (err) {
    toast(`Project ${name}: ${err.message}`, "error");
  }
}

function showActive(project) {
  replace($("#project-active"), "active: guideline ",
    h("strong", { class: "active-guideline" }, project.guideline_version), " · prompt ",
    h("strong", { class: "active-prompt" }, project.prompt_version),
    h("span", { class: "muted small" }, ` · ${project.task} · versions g ${project.guideline_versions.join(", ")}`
      + ` · p ${project.prompt_versions.join(", ")} · profile ${project.model_profile || "default"}`));
}

function setPending(pending) {
  state.pending = pending;
  for (const id of ["version-diff-button", "version-evaluate", "version-activate"]) {
    $(`#${id}`).disabled = !pending || (id !== "version-diff-button" && !state.me.can_operate);
  }
  replace($("#version-pending"), pending
    ? `new: guideline ${pending.guideline_version} · prompt ${pending.prompt_version}` : "");
  replace($("#version-diff"));
  replace($("#version-evaluation"));
  if (state.poll) { clearTimeout(state.poll); state.poll = null; }
}

async function saveVersion(event) {
  event.preventDefault();
  const project = state.project;
  const errors = $("#version-errors");
  replace(errors);
  const body = {};
  if ($("#version-guideline").value !== state.active.guideline) body.guideline = $("#version-guideline").value;
  if ($("#version-prompt").value !== state.active.prompt) body.prompt = $("#version-prompt").value;
  if (!Object.keys(body).length) { replace(errors, h("li", {}, "Nothing changed: edit the guideline or the prompt.")); return; }
  try {
    const saved = await api("POST", `/v1/projects/${enc(project.name)}/versions`, body);
    setPending({
      guideline_version: saved.guideline_version || project.guideline_version,
      prompt_version: saved.prompt_version || project.prompt_version,
      kind: body.guideline !== undefined ? "guideline" : "prompt",
    });
    const what = ["guideline", "prompt"].filter((k) => saved[`${k}_version`])
      .map((k) => `${k} ${saved[`${k}_version`]}${saved.created[k] ? "" : " (already stored)"}`).join(", ");
    replace($("#version-saved"), `Saved ${what}.`);
  } catch (err) {
    replace(errors, definitionErrors(err));
  }
}

async function showDiff() {
  const { project, pending } = state;
  const kind = pending.kind;
  try {
    const diff = await api("GET", `/v1/projects/${enc(project.name)}/versions/${kind}/diff?to=${enc(pending[`${kind}_version`])}`);
    replace($("#version-diff"), h("pre", { class: "diff" }, diff.diff || "(no change)"));
  } catch (err) {
    replace($("#version-diff"), h("p", { class: "error" }, err.message));
  }
}

async function evaluate() {
  const { project, pending } = state;
  const box = $("#version-evaluation");
  try {
    const started = await api("POST", `/v1/projects/${enc(project.name)}/evaluate`,
      { guideline_version: pending.guideline_version, prompt_version: pending.prompt_version });
    replace(box, `Evaluation ${started.id} ${started.state} on ${started.n_gold} gold item(s)…`);
    pollEvaluation(started.id);
  } catch (err) {
    replace(box, h("span", { class: "error" }, err.message));
  }
}

async function pollEvaluation(id) {
  const { project } = state;
  try {
    const { evaluations } = await api("GET", `/v1/projects/${enc(project.name)}/evaluations`);
    const found = evaluations.find((e) => e.id === id);
    if (found && found.state === "done" && found.report) {
      replace($("#version-evaluation"), h("span", { id: "evaluation-done" },
        `Gold accuracy ${pct(found.report.accuracy, 1)} on ${found.report.n} item(s); review rate ${pct(found.report.review_rate)}.`));
      return;
    }
    if (found && found.state === "failed") {
      replace($("#version-evaluation"), h("span", { class: "error" }, `Evaluation failed: ${found.error}`));
      return;
    }
  } catch (err) {
    toast(`Evaluation: ${err.message}`, "error");
  }
  state.poll = setTimeout(() => pollEvaluation(id), 1000);
}

async function activate() {
  const { project, pending } = state;
  try {
    const active = await api("POST", `/v1/projects/${enc(project.name)}/activate`,
      { guideline_version: pending.guideline_version, prompt_version: pending.prompt_version });
    toast(`${active.name}: guideline ${active.guideline_version} with prompt ${active.prompt_version} is active.`, "ok");
    openProject(active.name);
  } catch (err) {
    replace($("#version-errors"), definitionErrors(err));
  }
}
