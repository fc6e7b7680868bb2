// Inline SVG charts for the operator page: lines with a dot per point, and bars. Every
// data point is one element of class "mark" (with data-series and data-value), so a
// chart can be checked against the JSON it was drawn from. No library, no CDN.

const NS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 220;
const PAD = { left: 62, right: 16, top: 12, bottom: 36 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(id, label, yMax, yFormat, xTicks) {
  const svg = el("svg", { id, class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  svg.append(el("title", {}, label));
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    svg.append(el("line", { class: i ? "grid" : "axis", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }));
    svg.append(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, yFormat((yMax * i) / 4)));
  }
  xTicks.forEach(([x, text, anchor]) => {
    svg.append(el("text", { x, y: H - PAD.bottom + 16, "text-anchor": anchor || "middle" }, text));
  });
  return svg;
}

const yOf = (value, yMax) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (yMax ? value / yMax : 0));

/**
 * A line chart. series: [{name, points: [{x, y}]}] (x numeric, e.g. epoch seconds).
 * Options: id, label, yMax (default: the largest y), yFormat, xFormat.
 */
export function lineChart(series, { id, label, yMax, yFormat = String, xFormat = String } = {}) {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const x0 = Math.min(...xs, Infinity);
  const x1 = Math.max(...xs, -Infinity);
  const top = yMax ?? Math.max(1, ...ys);
  const span = x1 > x0 ? x1 - x0 : 1;
  const xOf = (x) => (x1 > x0 ? PAD.left + ((W - PAD.left - PAD.right) * (x - x0)) / span : (PAD.left + W - PAD.right) / 2);
  const ticks = xs.length ? [[xOf(x0), xFormat(x0), "start"], ...(x1 > x0 ? [[xOf(x1), xFormat(x1), "end"]] : [])] : [];
  const svg = frame(id, label, top, yFormat, ticks);
  series.forEach((s, i) => {
    const cls = `s${i % 5}`;
    const group = el("g", { class: "series", "data-series": s.name });
    group.append(el("polyline", { class: cls, points: s.points.map((p) => `${xOf(p.x)},${yOf(p.y, top)}`).join(" ") }));
    for (const p of s.points) {
      const dot = el("circle", { class: `mark ${cls}`, cx: xOf(p.x), cy: yOf(p.y, top), r: 3,
        "data-series": s.name, "data-value": p.y });
      dot.append(el("title", {}, `${s.name}: ${yFormat(p.y)} at ${xFormat(p.x)}`));
      group.append(dot);
    }
    svg.append(group);
  });
  return svg;
}

/** A bar chart. bars: [{label, value, title?}]. Options: id, label, yMax, yFormat, series (class). */
export function barChart(bars, { id, label, yMax, yFormat = String, series = 0 } = {}) {
  const top = yMax ?? Math.max(1e-9, ...bars.map((b) => b.value));
  const slot = (W - PAD.left - PAD.right) / Math.max(1, bars.length);
  const ticks = bars.map((b, i) => [PAD.left + slot * (i + 0.5), b.label]);
  const svg = frame(id, label, top, yFormat, bars.length <= 12 ? ticks : []);
  bars.forEach((b, i) => {
    const y = yOf(b.value, top);
    const rect = el("rect", { class: `mark s${series}`, x: PAD.left + slot * i + slot * 0.15, y,
      width: slot * 0.7, height: Math.max(0, H - PAD.bottom - y), "data-series": b.label, "data-value": b.value });
    rect.append(el("title", {}, b.title || `${b.label}: ${yFormat(b.value)}`));
    svg.append(rect);
  });
  return svg;
}

/** A legend for series names, in chart colours. */
export function legend(names, doc = document) {
  const box = doc.createElement("div");
  box.className = "legend";
  names.forEach((name, i) => {
    const item = doc.createElement("span");
    const swatch = doc.createElement("span");
    swatch.className = `swatch s${i % 5}`;
    item.append(swatch, name);
    box.append(item);
  });
  return box;
}
