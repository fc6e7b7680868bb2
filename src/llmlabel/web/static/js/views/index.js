// Review views by task type. Each module exports mount(root, {claim, guideline, onChange})
// returning {label(), changed(), onKey?(event), destroy?()}, and summarize(label) for
// the samples panel. Unknown task types get the raw JSON view.

import * as classification from "./classification.js";
import * as instruction from "./instruction.js";
import * as ner from "./ner.js";
import * as preference from "./preference.js";
import * as raw from "./raw.js";
import * as safety from "./safety.js";

const VIEWS = { classification, instruction, ner, preference, safety };

export function viewFor(task) {
  return VIEWS[task] || raw;
}
