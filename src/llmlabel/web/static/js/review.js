// The review page: claim the next item, inspect the samples and the guideline,
// then approve, fix, reject or skip it under a lease, from the mouse or the keyboard;
// undo the tab's last decisions (server-side, within the undo window). Shortcuts are
// remappable (shortcuts.js); `?` lists them all.

import { api, initSession, problemErrors } from "./api.js";
import { $, h, num, replace, toast, typing } from "./dom.js";
import { leaseClock, leaseLeft as leftOn } from "./lease.js";
import { samplesPanel } from "./samples.js";
import { actionFor, helpOverlay, renderBar } from "./shortcuts.js";
import { viewFor } from "./views/index.js";

const state = {
  me: null,
  claim: null, // the ReviewClaim being reviewed
  view: null, // the mounted task view
  decided: null, // the decision taken on `claim`, once taken
  busy: false,
  reviewed: 0,
  guidelines: new Map(),
  undoable: [], // item ids this tab decided (not skips), newest last
  help: null,
};

const lease = leaseClock(() => updateButtons());
const leaseLeft = () => leftOn(state.claim);
const startLease = () => lease.start(state.claim);
const renew = () => (state.claim && !state.decided ? lease.renew(state.claim) : null);

const VERBS = { approve: "Approved", fix: "Fixed", reject: "Rejected", skip: "Skipped" };
const STORED = { task: "llmlabel.review.task", auto: "llmlabel.review.autoNext" };
// A claim handed over by the list page (an undo done there), shown once on arrival.
const RESUME = "llmlabel.review.resume";

initSession(start);

function start(me) {
  state.me = me;
  $("#filter-task").addEventListener("change", (e) => localStorage.setItem(STORED.task, e.target.value));
  // A batch holds one task: choosing a batch sets the task filter to match it.
  $("#filter-batch").addEventListener("change", (e) => {
    const option = e.target.selectedOptions[0];
    if (option && option.dataset.task) $("#filter-task").value = option.dataset.task;
  });
  $("#auto-next").checked = localStorage.getItem(STORED.auto) === "1";
  $("#auto-next").addEventListener("change", (e) => localStorage.setItem(STORED.auto, e.target.checked ? "1" : "0"));
  $("#claim").addEventListener("click", claimNext);
  $("#approve").addEventListener("click", () => decide("approve"));
  $("#fix").addEventListener("click", () => decide("fix"));
  $("#reject").addEventListener("click", () => decide("reject"));
  $("#skip").addEventListener("click", () => decide("skip"));
  $("#renew").addEventListener("click", renew);
  $("#undo").addEventListener("click", undo);
  renderBar($("#keys"));
  state.help = helpOverlay($("#shortcuts"), () => renderBar($("#keys")));
  $("#help").addEventListener("click", () => state.help.open());
  document.addEventListener("keydown", onKey);
  if (!me.can_review) {
    $("#claim").disabled = true;
    replace($("#empty"), h("h2", {}, "This key cannot review"),
      h("p", { class: "muted" }, `It has the role ${me.role}; claiming needs a reviewer or admin key.`));
  }
  loadFilters();
  refreshQueue();
  setInterval(refreshQueue, 15000);
  if (me.can_review) openRequested();
}

// The list page opens a row as /ui/review?item=<item_id>, or hands over an undone claim.
async function openRequested() {
  const handed = sessionStorage.getItem(RESUME);
  sessionStorage.removeItem(RESUME);
  if (handed) {
    try { await show(JSON.parse(handed)); } catch { /* a stale hand-over: ignore it */ }
    return;
  }
  const itemId = new URLSearchParams(window.location.search).get("item");
  if (!itemId) return;
  history.replaceState(null, "", window.location.pathname);
  try {
    const claim = await api("POST", "/v1/review/claim", { item_id: itemId });
    if (claim === null) toast(`${itemId} no longer waits for review.`, "warn");
    else await show(claim);
  } catch (err) {
    toast(`Could not open ${itemId}: ${err.message}`, "error");
  }
}

// -- queue and filters -----------------------------------------------------------

// Reviewers read no batch records (README, Security): the review queue's own batch ids serve.
async function reviewableBatches() {
  if (!state.me.can_read_batches) {
    const queue = await api("GET", "/v1/review/items?limit=1");
    return queue.batches.map((id) => ({ id, task: "", counts: null }));
  }
  return (await api("GET", "/v1/batches?limit=100")).batches;
}

async function loadFilters() {
  try {
    const [{ tasks }, batches] = await Promise.all([api("GET", "/v1/tasks"), reviewableBatches()]);
    const taskSelect = $("#filter-task");
    const wanted = taskSelect.value || localStorage.getItem(STORED.task) || "";
    replace(taskSelect, h("option", { value: "" }, "All tasks"),
      tasks.map((t) => h("option", { value: t.task, selected: t.task === wanted }, t.task)));
    const batchSelect = $("#filter-batch");
    const chosen = batchSelect.value;
    const open = batches.filter((b) => !b.counts || b.counts.needs_review + b.counts.in_review > 0 || b.id === chosen);
    replace(batchSelect, h("option", { value: "" }, "All batches"),
      open.map((b) => h("option", { value: b.id, selected: b.id === chosen, dataset: b.task ? { task: b.task } : {} },
        b.counts ? `${b.task} · ${b.id} · ${b.counts.needs_review} waiting` : b.id)));
  } catch (err) {
    toast(`Could not load tasks and batches: ${err.message}`, "error");
  }
}

async function refreshQueue() {
  try {
    const { depth } = await api("GET", "/v1/review/queue");
    replace($("#queue"), h("strong", { id: "queue-depth" }, String(depth)), " waiting",
      h("span", { class: "muted" }, ` · ${state.reviewed} reviewed in this tab`));
  } catch (err) {
    replace($("#queue"), h("span", { class: "error" }, err.message));
  }
}

// -- claim -----------------------------------------------------------------------

async function guidelineFor(task, version) {
  const key = `${task}/${version}`;
  if (!state.guidelines.has(key)) {
    try {
      state.guidelines.set(key, await api("GET", `/v1/tasks/${encodeURIComponent(task)}/guidelines/${encodeURIComponent(version)}`));
    } catch (err) {
      return { task, version, description: "", labels: [], label_descriptions: {}, options: {},
        threshold: null, text: `The guideline is not available: ${err.message}` };
    }
  }
  return state.guidelines.get(key);
}

async function claimNext() {
  if (state.busy || !state.me.can_review) return;
  if (state.claim && !state.decided && leaseLeft() > 0) {
    toast("Decide on this item first, or skip it (s).", "warn");
    return;
  }
  state.busy = true;
  try {
    const filters = {};
    if ($("#filter-task").value) filters.task = $("#filter-task").value;
    if ($("#filter-batch").value) filters.batch_id = $("#filter-batch").value;
    const claim = await api("POST", "/v1/review/claim", filters);
    if (claim === null) {
      clearItem();
      replace($("#empty"), h("h2", {}, "Nothing waits for review"),
        h("p", { class: "muted" }, Object.keys(filters).length
          ? "No item matches the filters. Clear them or come back later." : "All caught up. New items appear as workers label them."));
      toast("Nothing waits for review.");
    } else {
      await show(claim);
    }
  } catch (err) {
    toast(`Claim failed: ${err.message}`, "error");
  } finally {
    state.busy = false;
    refreshQueue();
  }
}

function clearItem() {
  if (state.view && state.view.destroy) state.view.destroy();
  lease.stop();
  Object.assign(state, { claim: null, view: null, decided: null });
  $("#current").hidden = true;
  $("#side").hidden = true;
  $("#empty").hidden = false;
}

async function show(claim) {
  const guideline = await guidelineFor(claim.task, claim.guideline_version);
  if (state.view && state.view.destroy) state.view.destroy();
  Object.assign(state, { claim, view: null, decided: null });
  $("#empty").hidden = true;
  $("#current").hidden = false;
  $("#side").hidden = false;
  $("#item").classList.remove("decided");
  $("#item").dataset.itemId = claim.item_id;
  $("#item").dataset.task = claim.task;
  $("#item-task").textContent = claim.task;
  $("#item-id").textContent = claim.id;
  $("#item-batch").textContent = `batch ${claim.batch_id} · guideline ${claim.guideline_version} · prompt ${claim.prompt_version}`;
  $("#item-state").textContent = "";
  $("#comment").value = "";
  $("#decision-error").textContent = "";
  const module = viewFor(claim.task);
  state.view = module.mount($("#editor"), { claim, guideline, onChange: updateButtons });
  renderSide(claim, guideline, module.summarize);
  startLease();
  updateButtons();
}

function renderSide(claim, guideline, summarize) {
  $("#reason").textContent = claim.reason || "—";
  const confidence = claim.confidence ?? 0;
  $("#confidence span").style.width = `${Math.round(confidence * 100)}%`;
  $("#confidence").classList.toggle("low", guideline.threshold !== null && confidence < guideline.threshold);
  $("#confidence-text").textContent = `confidence ${num(claim.confidence, 2)}` +
    (guideline.threshold !== null ? ` · accepted from ${num(guideline.threshold, 2)}` : "") +
    ` · ${claim.samples.filter((s) => s.label).length} of ${claim.samples.length} samples usable`;
  replace($("#samples"), samplesPanel(claim, summarize));
  $("#guideline-version").textContent = `${guideline.version}`;
  replace($("#guideline"),
    guideline.description ? h("p", { class: "guideline-desc" }, guideline.description) : null,
    guideline.labels.length ? h("dl", { class: "labels" }, guideline.labels.map((l) => [
      h("dt", {}, l), h("dd", {}, guideline.label_descriptions[l] || "")])) : null,
    h("details", { class: "guideline-text", open: claim.task !== "safety" },
      h("summary", {}, "Instructions"), h("div", { class: "prose" }, guideline.text)));
}

// -- decisions ---------------------------------------------------------------------

function blocked(action) {
  if (!state.claim) return "Claim an item first (n).";
  if (state.decided) return `Already ${VERBS[state.decided].toLowerCase()}. Press n for the next item.`;
  if (leaseLeft() <= 0) return "The lease expired. Claim again (n).";
  const changed = state.view.changed();
  if (action === "approve" && state.claim.label === null) return "The LLM gave no usable label: fix or reject it.";
  if (action === "approve" && changed) return "You changed the label: save it as a fix (f).";
  if (action === "fix" && !changed) return "Nothing changed: approve it (a) instead.";
  return null;
}

function updateButtons() {
  if (!state.view) return; // views report changes while they mount, before they are assigned
  for (const action of ["approve", "fix", "reject", "skip"]) {
    const reason = blocked(action);
    const button = $(`#${action}`);
    button.disabled = Boolean(reason);
    button.title = reason || "";
  }
}

async function decide(action) {
  const reason = blocked(action);
  if (reason) { toast(reason, "warn"); return; }
  if (state.busy) return;
  const claim = state.claim;
  const body = { lease_token: claim.lease_token, action };
  if (action === "fix") {
    body.label = state.view.label();
    if (body.label === undefined) { toast("The label is not valid JSON.", "error"); return; }
  }
  const comment = $("#comment").value.trim();
  if (comment) body.comment = comment;
  state.busy = true;
  $("#decision-error").textContent = "";
  try {
    const item = await api("POST", `/v1/review/items/${encodeURIComponent(claim.item_id)}/decision`, body);
    state.decided = action;
    if (action !== "skip") {
      state.reviewed += 1;
      state.undoable = [...state.undoable.filter((id) => id !== claim.item_id), claim.item_id].slice(-20);
    }
    lease.stop("done");
    $("#item").classList.add("decided");
    $("#item-state").textContent = VERBS[action];
    $("#item-state").dataset.state = item.state;
    toast(`${VERBS[action]} ${claim.id}. Press n for the next item.`, "ok");
    updateButtons();
    loadFilters();
  } catch (err) {
    const details = problemErrors(err);
    $("#decision-error").textContent = [err.message, ...details].join(" · ");
    if (err.status === 409) {
      // The lease is gone (expired, or the item was released): stop the clock so n claims again.
      state.claim.lease_expires_at = new Date(0).toISOString();
      startLease();
    }
    toast(`${action} failed: ${err.message}`, "error");
  } finally {
    state.busy = false;
    refreshQueue();
  }
  if (state.decided && $("#auto-next").checked) claimNext();
}

// -- undo ------------------------------------------------------------------------------

async function undo() {
  if (state.busy) return;
  if (state.claim && !state.decided && leaseLeft() > 0) {
    toast("You hold an item: decide on it or skip it (s) before undoing.", "warn");
    return;
  }
  const itemId = state.undoable[state.undoable.length - 1];
  if (!itemId) { toast("Nothing to undo in this tab.", "warn"); return; }
  state.busy = true;
  try {
    const result = await api("POST", `/v1/review/items/${encodeURIComponent(itemId)}/undo`);
    state.undoable.pop();
    state.reviewed = Math.max(0, state.reviewed - 1);
    if (result.claim) {
      state.busy = false;
      await show(result.claim);
      toast(`Undone: ${result.claim.id} is back with the label it had. Decide again.`, "ok");
    } else {
      toast(`Undone: ${result.item.id} is back in the queue.`, "ok");
    }
    loadFilters();
  } catch (err) {
    if (err.status === 409 || err.status === 404) state.undoable.pop();
    toast(`Undo failed: ${err.message}`, "error");
  } finally {
    state.busy = false;
    refreshQueue();
  }
}

// -- keyboard ----------------------------------------------------------------------

const RUN = {
  claim: claimNext, approve: () => decide("approve"), fix: () => decide("fix"),
  reject: () => decide("reject"), skip: () => decide("skip"), undo,
  list: () => { window.location.href = "/ui/queue"; },
};

function onKey(event) {
  if (state.help.isOpen()) {
    if (state.help.onKey(event)) event.preventDefault();
    return;
  }
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    event.preventDefault();
    decide("fix");
    return;
  }
  if (typing(event)) return;
  if (event.key === "?") {
    event.preventDefault();
    state.help.open();
    return;
  }
  if (state.view && !state.decided && state.view.onKey && state.view.onKey(event)) {
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const action = actionFor(event.key);
  if (action) {
    event.preventDefault();
    RUN[action]();
  }
}
