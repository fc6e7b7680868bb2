// Preference review: the dialogue, the responses side by side with their rank, and a
// ranking control: "A is better" / "B is better" for two responses, move up/down for more.

import { canonical, h, replace } from "../dom.js";

const letter = (i) => String.fromCharCode(65 + i);

export function summarize(label) {
  const ranking = (label && label.ranking) || [];
  return ranking.length ? ranking.map(letter).join(" > ") : "no ranking";
}

function dialogue(prompt) {
  const parts = String(prompt ?? "").split(/(?:^|\n\n)(Human|Assistant):[ ]?/);
  if (parts.length < 3) return h("div", { class: "turn" }, h("p", { class: "turn-text" }, prompt));
  const turns = [];
  if (parts[0].trim()) turns.push(h("div", { class: "turn" }, h("p", { class: "turn-text" }, parts[0])));
  for (let i = 1; i < parts.length; i += 2) {
    turns.push(h("div", { class: `turn turn-${parts[i].toLowerCase()}` },
      h("span", { class: "turn-role" }, parts[i]), h("p", { class: "turn-text" }, parts[i + 1] || "")));
  }
  return turns;
}

export function mount(root, { claim, onChange }) {
  const responses = claim.input.responses || [];
  const n = responses.length;
  const fallback = responses.map((_, i) => i);
  const initial = (claim.label && claim.label.ranking) || fallback;
  let ranking = [...initial];

  const cards = responses.map((text, i) => h("section", { class: "response", dataset: { index: i } },
    h("header", {}, h("span", { class: "response-name" }, `Response ${letter(i)}`), h("span", { class: "rank" })),
    h("div", { class: "response-text" }, text)));
  const control = h("div", { class: "rank-control", id: "rank-control" });
  const order = h("p", { class: "rank-order", id: "rank-order", "aria-live": "polite" });
  const convo = h("div", { class: "dialogue", id: "pref-dialogue" }, dialogue(claim.input.prompt));

  replace(root, h("div", { class: "preference" },
    h("h3", {}, "Conversation"), convo,
    h("h3", {}, "Responses"),
    h("div", { class: `responses responses-${Math.min(n, 3)}` }, cards),
    control, order));
  requestAnimationFrame(() => { convo.scrollTop = convo.scrollHeight; });

  function setBest(i) {
    ranking = [i, ...ranking.filter((x) => x !== i)];
    render();
  }
  function move(i, delta) {
    const at = ranking.indexOf(i);
    const to = at + delta;
    if (to < 0 || to >= n) return;
    [ranking[at], ranking[to]] = [ranking[to], ranking[at]];
    render();
  }

  function render() {
    cards.forEach((card, i) => {
      const rank = ranking.indexOf(i);
      card.querySelector(".rank").textContent = rank === 0 ? "#1 best" : `#${rank + 1}`;
      card.classList.toggle("best", rank === 0);
      card.style.order = n > 2 ? String(rank) : "";
    });
    if (n === 2) {
      replace(control, [0, 1].map((i) => h("button", {
        class: "choice", id: `better-${letter(i)}`, "aria-pressed": String(ranking[0] === i),
        onclick: () => setBest(i),
      }, h("kbd", {}, String(i + 1)), ` ${letter(i)} is better`)));
    } else {
      replace(control, h("ol", { class: "rank-list" }, ranking.map((i, pos) => h("li", {},
        h("span", { class: "rank-pos muted" }, `${pos + 1}.`),
        h("span", { class: "rank-letter" }, letter(i)),
        h("span", { class: "rank-preview" }, String(responses[i]).slice(0, 80)),
        h("button", { class: "icon", "aria-label": `Move ${letter(i)} up`, disabled: pos === 0, onclick: () => move(i, -1) }, "↑"),
        h("button", { class: "icon", "aria-label": `Move ${letter(i)} down`, disabled: pos === n - 1, onclick: () => move(i, 1) }, "↓")))));
    }
    order.textContent = `Ranking: ${summarize({ ranking })}` +
      (canonical(ranking) !== canonical(initial) ? ` (LLM: ${summarize({ ranking: initial })})` : "");
    onChange();
  }
  render();

  return {
    label: () => ({ ranking: [...ranking] }),
    changed: () => claim.label === null || canonical(ranking) !== canonical(initial),
    // With two responses, 1 and 2 pick the better one.
    onKey(event) {
      if (n === 2 && (event.key === "1" || event.key === "2")) { setBest(Number(event.key) - 1); return true; }
      return false;
    },
  };
}
