// The review page's keyboard shortcuts: the defaults, this browser's remapping (kept in
// localStorage), the key bar at the bottom, and the `?` overlay that lists every
// shortcut and lets the reviewer give an action another key.

import { $, h, replace } from "./dom.js";

const STORED = "llmlabel.review.shortcuts";

/** Actions with a remappable key. */
export const ACTIONS = [
  { id: "claim", key: "n", text: "Claim the next item" },
  { id: "approve", key: "a", text: "Approve the LLM's label" },
  { id: "fix", key: "f", text: "Save your fix" },
  { id: "reject", key: "r", text: "Reject the item" },
  { id: "skip", key: "s", text: "Skip it (back to the queue)" },
  { id: "undo", key: "u", text: "Undo your last decision" },
  { id: "list", key: "l", text: "Open the queue list" },
];

// Keys the page and the task views own: never given to an action.
const RESERVED = new Set(["?", "Tab", "Escape", "Enter", " ", "Backspace", "Delete",
  "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]);

/** Shortcuts with fixed keys, shown in the overlay. */
export const FIXED = [
  ["1 – 9", "Safety: toggle the n-th category · Classification: pick (or toggle) the n-th class · Instruction: pick the n-th category · Preference: 1 or 2 is better · NER: label the selection, or relabel the span in focus"],
  ["Ctrl + Enter", "Save your fix, also from inside a text field"],
  ["← / →", "NER: move the caret one word"],
  ["Shift + ← / →", "NER: select word by word"],
  ["Shift + Alt + ← / →", "NER: select character by character (part of a word)"],
  ["Tab / Shift + Tab", "NER: focus the next / previous span"],
  ["Backspace / Delete", "NER: delete the span in focus"],
  ["Esc", "Close this list, or clear the NER selection"],
  ["?", "Show this list"],
];

function stored() {
  try {
    const value = JSON.parse(localStorage.getItem(STORED) || "{}");
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** {action id: key} with this browser's changes over the defaults. */
export function keymap() {
  const changes = stored();
  return Object.fromEntries(ACTIONS.map((a) => [a.id, typeof changes[a.id] === "string" ? changes[a.id] : a.key]));
}

/** The action bound to `key`, or null. */
export function actionFor(key) {
  const map = keymap();
  return Object.keys(map).find((id) => map[id] === key) || null;
}

/** Bind `key` to action `id`; an error message when the key cannot be used. */
export function setKey(id, key) {
  if (key.length !== 1 || RESERVED.has(key)) return `${key === " " ? "Space" : key} is kept for the page; choose a letter or a sign.`;
  const taken = actionFor(key);
  if (taken && taken !== id) return `${key} already does “${ACTIONS.find((a) => a.id === taken).text}”.`;
  const changes = stored();
  const fallback = ACTIONS.find((a) => a.id === id).key;
  if (key === fallback) delete changes[id]; else changes[id] = key;
  localStorage.setItem(STORED, JSON.stringify(changes));
  return null;
}

/** Forget every change: the default keys again. */
export function resetKeys() {
  localStorage.removeItem(STORED);
}

/** Draw the fixed key bar and keep the page's bottom padding as tall as the bar. */
export function renderBar(bar) {
  const map = keymap();
  const k = (id) => h("kbd", { dataset: { action: id } }, map[id]);
  replace(bar,
    h("span", {}, k("claim"), " claim"), h("span", {}, k("approve"), " approve"),
    h("span", {}, k("fix"), " / ", h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Enter"), " save fix"),
    h("span", {}, k("reject"), " reject"), h("span", {}, k("skip"), " skip"),
    h("span", {}, k("undo"), " undo"), h("span", {}, h("kbd", {}, "1–9"), " labels"),
    h("span", {}, k("list"), " list"), h("span", {}, h("kbd", {}, "?"), " all shortcuts"));
  for (const el of document.querySelectorAll("kbd[data-action]")) el.textContent = map[el.dataset.action];
  if (!bar.dataset.watched) {
    bar.dataset.watched = "1";
    // The bar is fixed: the page's end must stay above it, however many lines it wraps to.
    const fit = () => document.body.style.setProperty("--keys-h", `${bar.offsetHeight}px`);
    new ResizeObserver(fit).observe(bar);
    fit();
  }
}

/**
 * The `?` overlay. Returns {open(), close(), isOpen(), onKey(event)}; while open it
 * owns the keyboard (Esc closes; after "Change", the next key pressed is the new one).
 * `onChange` runs after every remapping.
 */
export function helpOverlay(root, onChange) {
  let capturing = null; // the action id waiting for its new key
  let message = "";

  function render() {
    const map = keymap();
    replace(root,
      h("div", { class: "overlay-card card", role: "document" },
        h("header", { class: "card-head" }, h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
          h("button", { class: "small", id: "shortcuts-reset", onclick: () => { resetKeys(); message = "Default keys restored."; changed(); } }, "Default keys"),
          h("button", { class: "icon", "aria-label": "Close", onclick: close }, "×")),
        h("table", { class: "table compact", id: "shortcuts-table" }, h("tbody", {},
          ACTIONS.map((a) => h("tr", { dataset: { action: a.id } },
            h("td", {}, h("kbd", { class: "bound" }, capturing === a.id ? "…" : map[a.id])),
            h("td", {}, a.text),
            h("td", {}, h("button", {
              class: "small change", dataset: { action: a.id },
              onclick: () => { capturing = a.id; message = `Press the new key for “${a.text}” (Esc to cancel).`; render(); },
            }, capturing === a.id ? "Press a key…" : "Change")))),
          FIXED.map(([keys, text]) => h("tr", { class: "fixed" },
            h("td", {}, h("kbd", {}, keys)), h("td", { colspan: 2 }, text))))),
        h("p", { class: "hint", id: "shortcuts-message", role: "status" }, message ||
          "Changed keys are remembered in this browser.")));
  }

  function changed() { capturing = null; render(); onChange(); }
  function open() { message = ""; capturing = null; render(); root.hidden = false; $("#shortcuts-title", root).focus?.(); }
  function close() { capturing = null; root.hidden = true; }

  root.addEventListener("click", (event) => { if (event.target === root) close(); });
  return {
    open, close,
    isOpen: () => !root.hidden,
    onKey(event) {
      if (event.key === "Escape") {
        if (capturing) { capturing = null; message = ""; render(); } else close();
        return true;
      }
      if (!capturing || ["Shift", "Control", "Alt", "Meta"].includes(event.key)) return event.key !== "Tab";
      if (event.ctrlKey || event.metaKey || event.altKey) { message = "Use a key without Ctrl, Alt or Meta."; render(); return true; }
      const error = setKey(capturing, event.key);
      if (error) { message = error; render(); return true; }
      message = `“${ACTIONS.find((a) => a.id === capturing).text}” is now ${event.key}.`;
      changed();
      return true;
    },
  };
}
