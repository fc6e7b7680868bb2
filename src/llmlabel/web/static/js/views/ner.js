// NER review: the text with highlighted spans. Select text with the mouse and pick
// a label to add a span; click (or focus and press Enter on) a span to relabel or
// remove it. Without the mouse: Shift+arrows select word by word (Shift+Alt+arrows
// by character), a number labels the selection, Tab cycles the spans, a number
// relabels the span in focus and Backspace deletes it. Offsets are Python code points, as the API stores them, so texts with
// emoji (two UTF-16 units in JavaScript) still map to the right characters.

import { $, canonical, clone, h, replace } from "../dom.js";
import { keyboardCursor } from "./ner_keys.js";

const WORD = /[\p{L}\p{N}_]/u;

export function summarize(label) {
  const entities = (label && label.entities) || [];
  if (!entities.length) return "no entities";
  return entities.map((e) => `${e.text ?? `${e.start}–${e.end}`} · ${e.label}`).join("; ");
}

const spanKey = (e) => `${e.start}:${e.end}:${e.label}`;
const byStart = (a, b) => a.start - b.start || a.end - b.end;

export function mount(root, { claim, guideline, onChange }) {
  const text = String(claim.input.text ?? "");
  const chars = Array.from(text); // code points
  const labels = guideline.labels.length ? guideline.labels : ["entity"];
  const colorOf = (label) => Math.max(0, labels.indexOf(label)) % 8;
  const initial = ((claim.label && claim.label.entities) || [])
    .map(({ start, end, label }) => ({ start, end, label })).sort(byStart);
  let entities = clone(initial);

  const valid = claim.samples.filter((s) => s.label);
  const votes = new Map();
  const seen = new Map();
  for (const sample of valid) {
    for (const e of sample.label.entities || []) {
      const key = spanKey(e);
      votes.set(key, (votes.get(key) || 0) + 1);
      seen.set(key, { start: e.start, end: e.end, label: e.label });
    }
  }

  const slice = (start, end) => chars.slice(start, end).join("");
  const textBox = h("div", { class: "ner-text", id: "ner-text", "aria-label": "Item text; select words to add an entity" });
  const popover = h("div", { class: "popover", id: "ner-popover", role: "dialog", hidden: true });
  const list = h("div", { class: "ner-list" });
  const legend = h("p", { class: "hint" },
    "Select text with the mouse or with Shift+arrows (Shift+Alt+arrows for part of a word), ",
    "then press a label's number. Tab goes through the spans; a number relabels, Backspace deletes.");
  const keyLabels = h("p", { class: "ner-keys", id: "ner-keys" }, labels.slice(0, 9).map((l, i) =>
    h("span", { class: "ent-chip", dataset: { color: colorOf(l) } }, h("kbd", {}, String(i + 1)), ` ${l}`)));
  const status = h("p", { class: "hint", id: "ner-kbd-status", "aria-live": "polite" });
  replace(root, h("div", { class: "ner" }, legend, keyLabels,
    h("div", { class: "ner-stage" }, textBox, popover), status, list));
  const cursor = keyboardCursor(chars);

  let pending = null; // {start, end} being added, or {edit: entity}

  function renderText() {
    const parts = [];
    let at = 0;
    for (const e of entities) {
      if (e.start > at) parts.push(h("span", { class: "seg", dataset: { start: at } }, slice(at, e.start)));
      parts.push(h("mark", {
        class: "ent", tabindex: 0, title: `${e.label} — click to relabel or remove`,
        dataset: { start: e.start, end: e.end, label: e.label, color: colorOf(e.label) },
      }, slice(e.start, e.end)));
      at = e.end;
    }
    if (at < chars.length) parts.push(h("span", { class: "seg", dataset: { start: at } }, slice(at)));
    replace(textBox, parts);
  }

  function renderList() {
    const rows = entities.map((e, i) => h("tr", { dataset: { key: spanKey(e) } },
      h("td", {}, h("span", { class: "ent-chip", dataset: { color: colorOf(e.label) } }, slice(e.start, e.end))),
      h("td", { class: "muted mono" }, `${e.start}–${e.end}`),
      h("td", {}, h("select", {
        "aria-label": `Label of “${slice(e.start, e.end)}”`,
        onchange: (ev) => relabel(e, ev.target.value),
      }, labels.map((l) => h("option", { value: l, selected: l === e.label }, l)))),
      h("td", { class: "muted" }, valid.length ? `${votes.get(spanKey(e)) || 0}/${valid.length} samples` : ""),
      h("td", {}, h("button", { class: "icon", title: "Remove", "aria-label": `Remove ${slice(e.start, e.end)}`, onclick: () => remove(entities[i]) }, "×")),
    ));
    const suggestions = [...seen.entries()]
      .filter(([key]) => !entities.some((e) => spanKey(e) === key))
      .sort((a, b) => votes.get(b[0]) - votes.get(a[0]));
    replace(list,
      h("h3", {}, `Entities (${entities.length})`),
      entities.length
        ? h("table", { class: "table compact", id: "ner-entities" }, h("tbody", {}, rows))
        : h("p", { class: "muted" }, "No entities. Select text above to add one."),
      suggestions.length ? [
        h("h3", {}, "Other spans the samples proposed"),
        h("ul", { class: "suggestions" }, suggestions.map(([key, e]) => h("li", {},
          h("span", { class: "ent-chip", dataset: { color: colorOf(e.label) } }, slice(e.start, e.end)),
          ` ${e.label} · ${votes.get(key)}/${valid.length} samples `,
          h("button", { class: "small", onclick: () => add(e.start, e.end, e.label) }, "Add")))),
      ] : null);
  }

  function render() { renderText(); renderList(); onChange(); }

  function add(start, end, label) {
    entities = entities.filter((e) => e.end <= start || e.start >= end);
    entities.push({ start, end, label });
    entities.sort(byStart);
    window.getSelection().removeAllRanges();
    close();
    render();
  }
  function relabel(entity, label) { entity.label = label; close(); render(); }
  function remove(entity) { entities = entities.filter((e) => e !== entity); close(); render(); }

  function close() {
    pending = null;
    popover.hidden = true;
  }
  function outside(event) {
    if (!popover.hidden && !popover.contains(event.target) && !textBox.contains(event.target)) close();
  }
  document.addEventListener("mousedown", outside);

  function openPopover(anchor, title, buttons) {
    const stage = textBox.parentElement.getBoundingClientRect();
    replace(popover, h("p", { class: "popover-title" }, title), h("div", { class: "popover-buttons" }, buttons));
    popover.hidden = false;
    popover.style.left = `${Math.max(0, Math.min(anchor.left - stage.left, stage.width - popover.offsetWidth))}px`;
    popover.style.top = `${anchor.bottom - stage.top + 6}px`;
    const first = $("button", popover);
    if (first) first.focus({ preventScroll: true });
  }

  function labelButtons(onPick, current) {
    return labels.map((l, i) => h("button", {
      class: "label-btn", dataset: { color: colorOf(l), label: l }, "aria-pressed": l === current ? "true" : false,
      onclick: () => onPick(l),
    }, h("kbd", {}, String(i + 1)), ` ${l}`));
  }

  function openAdd(start, end, rect) {
    pending = { start, end };
    openPopover(rect, `Label “${slice(start, end)}” as`, labelButtons((l) => add(start, end, l)));
  }

  function openEdit(entity, rect) {
    pending = { edit: entity };
    openPopover(rect, `“${slice(entity.start, entity.end)}” is ${entity.label}`, [
      ...labelButtons((l) => relabel(entity, l), entity.label),
      h("button", { class: "danger small", onclick: () => remove(entity) }, "Remove span"),
    ]);
  }

  // A DOM boundary point (node, offset) -> a code point offset into the text.
  function pointOffset(node, offset) {
    if (node === textBox) {
      const child = textBox.childNodes[offset];
      return child ? Number(child.dataset.start) : chars.length;
    }
    const el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    const piece = el && el.closest("[data-start]");
    if (!piece || !textBox.contains(piece)) return null;
    const within = node.nodeType === Node.TEXT_NODE ? offset : (offset === 0 ? 0 : piece.textContent.length);
    return Number(piece.dataset.start) + Array.from(piece.textContent.slice(0, within)).length;
  }

  // Trim spaces and widen to whole words: a drag rarely lands exactly on a character edge.
  function snap(start, end) {
    while (start < end && /\s/u.test(chars[start])) start++;
    while (end > start && /\s/u.test(chars[end - 1])) end--;
    if (start >= end) return null;
    while (start > 0 && WORD.test(chars[start - 1]) && WORD.test(chars[start])) start--;
    while (end < chars.length && WORD.test(chars[end - 1]) && WORD.test(chars[end])) end++;
    return [start, end];
  }

  textBox.addEventListener("mouseup", (event) => {
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed && selection.rangeCount) {
      const range = selection.getRangeAt(0);
      const start = textBox.contains(range.startContainer) ? pointOffset(range.startContainer, range.startOffset) : 0;
      const end = textBox.contains(range.endContainer) ? pointOffset(range.endContainer, range.endOffset) : chars.length;
      const span = start === null || end === null ? null : snap(Math.min(start, end), Math.max(start, end));
      if (span) {
        openAdd(span[0], span[1], range.getBoundingClientRect());
        return;
      }
    }
    const mark = event.target.closest && event.target.closest("mark.ent");
    if (mark) openEdit(entityOf(mark), mark.getBoundingClientRect());
  });
  textBox.addEventListener("keydown", (event) => {
    const mark = event.target.closest && event.target.closest("mark.ent");
    if (!mark) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openEdit(entityOf(mark), mark.getBoundingClientRect());
    }
  });
  function entityOf(mark) {
    return entities.find((e) => e.start === Number(mark.dataset.start) && e.end === Number(mark.dataset.end));
  }

  // -- keyboard: selection, labels by number, spans by Tab --------------------------

  function showSelection() {
    const range = cursor.range();
    const selection = window.getSelection();
    selection.removeAllRanges();
    if (!range) {
      status.textContent = `Caret before “${slice(cursor.caret(), cursor.caret() + 12)}”. Shift+→ selects.`;
      return;
    }
    const dom = document.createRange();
    dom.setStart(...domPoint(range[0]));
    dom.setEnd(...domPoint(range[1]));
    selection.addRange(dom);
    status.textContent = `Selected “${slice(range[0], range[1])}” (${range[0]}–${range[1]}): press 1–${Math.min(9, labels.length)} to label it.`;
  }

  // A code point offset -> a DOM boundary point in the rendered text.
  function domPoint(offset) {
    const pieces = [...textBox.children];
    for (const piece of pieces) {
      const start = Number(piece.dataset.start);
      const length = Array.from(piece.textContent).length;
      if (offset <= start + length) {
        return [piece.firstChild, Array.from(piece.textContent).slice(0, offset - start).join("").length];
      }
    }
    const last = pieces[pieces.length - 1];
    return [last.firstChild, last.textContent.length];
  }

  const marks = () => [...textBox.querySelectorAll("mark.ent")];
  const focusedMark = () => (document.activeElement && document.activeElement.matches
    && document.activeElement.matches("#ner-text mark.ent") ? document.activeElement : null);
  function focusEntity(entity) {
    const mark = entity && marks().find((m) => Number(m.dataset.start) === entity.start);
    if (mark) mark.focus();
  }

  function keyboardKey(event) {
    if (event.ctrlKey || event.metaKey) return false;
    const digit = Number(event.key);
    const mark = focusedMark();
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      if (mark) mark.blur();
      cursor.move(event.key === "ArrowRight" ? 1 : -1, { extend: event.shiftKey, byChar: event.altKey });
      showSelection();
      return true;
    }
    if (event.key === "Tab" && entities.length) {
      const all = marks();
      const at = mark ? all.indexOf(mark) : (event.shiftKey ? all.length : -1);
      all[(at + (event.shiftKey ? -1 : 1) + all.length) % all.length].focus();
      window.getSelection().removeAllRanges();
      status.textContent = "A number relabels the span in focus; Backspace deletes it.";
      return true;
    }
    if (event.altKey || !(event.key.length === 1 || event.key === "Backspace" || event.key === "Delete" || event.key === "Escape")) return false;
    if (Number.isInteger(digit) && digit >= 1 && digit <= Math.min(9, labels.length)) {
      const range = cursor.range();
      if (mark) {
        const entity = entityOf(mark);
        relabel(entity, labels[digit - 1]);
        focusEntity(entity);
        return true;
      }
      if (range) {
        add(range[0], range[1], labels[digit - 1]);
        cursor.place(range[1]);
        status.textContent = `Added “${slice(range[0], range[1])}” as ${labels[digit - 1]}.`;
        return true;
      }
      return false;
    }
    if ((event.key === "Backspace" || event.key === "Delete") && mark) {
      const index = marks().indexOf(mark);
      remove(entityOf(mark));
      const next = marks()[Math.min(index, marks().length - 1)];
      if (next) next.focus();
      return true;
    }
    if (event.key === "Escape" && cursor.range()) {
      cursor.clear();
      showSelection();
      return true;
    }
    return false;
  }

  // While the label picker is open it owns the keyboard: digits pick, Escape closes.
  function popoverKey(event) {
    if (event.key === "Escape") { close(); window.getSelection().removeAllRanges(); return true; }
    const digit = Number(event.key);
    if (Number.isInteger(digit) && digit >= 1 && digit <= labels.length) {
      const label = labels[digit - 1];
      if (pending && pending.edit) relabel(pending.edit, label);
      else if (pending) add(pending.start, pending.end, label);
      return true;
    }
    if (pending && pending.edit && event.key === "Delete") { remove(pending.edit); return true; }
    return event.key !== "Tab" && !event.ctrlKey && !event.metaKey;
  }

  render();

  return {
    destroy: () => document.removeEventListener("mousedown", outside),
    label: () => ({ entities: entities.map(({ start, end, label }) => ({ start, end, label })) }),
    changed: () => claim.label === null || canonical(entities) !== canonical(initial),
    onKey(event) {
      if (!popover.hidden) return popoverKey(event);
      return keyboardKey(event);
    },
  };
}
