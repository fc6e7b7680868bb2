// Keyboard selection for the NER view: a caret that moves by word (or by character
// with Alt held), Shift to extend a selection, offsets in code points like the API's.

const WORD = /[\p{L}\p{N}_]/u;
const SPACE = /\s/u;

/** Tokens of a text as [start, end) code point ranges: runs of word characters, or one other non-space character. */
export function tokens(chars) {
  const out = [];
  let i = 0;
  while (i < chars.length) {
    if (SPACE.test(chars[i])) { i++; continue; }
    let j = i + 1;
    if (WORD.test(chars[i])) while (j < chars.length && WORD.test(chars[j])) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

/**
 * A caret with an optional selection over `chars`. `move(direction, {extend, byChar})`
 * moves the focus one token (or code point) left (-1) or right (+1); without `extend`
 * the selection collapses. `range()` is the selected [start, end), or null.
 */
export function keyboardCursor(chars) {
  const words = tokens(chars);
  let anchor = words.length ? words[0][0] : 0;
  let focus = anchor;

  function nextEnd(at) {
    const word = words.find(([, end]) => end > at);
    return word ? word[1] : chars.length;
  }
  function prevStart(at) {
    const before = words.filter(([start]) => start < at);
    return before.length ? before[before.length - 1][0] : 0;
  }
  function nextStart(at) {
    const word = words.find(([start]) => start > at);
    return word ? word[0] : at;
  }

  return {
    move(direction, { extend = false, byChar = false } = {}) {
      if (!extend) {
        const [start, end] = anchor <= focus ? [anchor, focus] : [focus, anchor];
        // Collapsing a selection puts the caret at its edge, as text editors do.
        let at = start === end ? focus : (direction > 0 ? end : start);
        if (start === end) at = direction > 0 ? nextStart(at) : prevStart(at);
        anchor = focus = at;
        return;
      }
      if (byChar) focus = Math.max(0, Math.min(chars.length, focus + direction));
      else focus = direction > 0 ? nextEnd(focus) : prevStart(focus);
    },
    /** Put the caret at `at` (e.g. after a span was added). */
    place(at) { anchor = focus = Math.max(0, Math.min(chars.length, at)); },
    clear() { anchor = focus; },
    caret: () => focus,
    range() {
      let [start, end] = anchor <= focus ? [anchor, focus] : [focus, anchor];
      while (start < end && SPACE.test(chars[start])) start++;
      while (end > start && SPACE.test(chars[end - 1])) end--;
      return start < end ? [start, end] : null;
    },
  };
}
