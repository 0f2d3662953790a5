/* What the reader has given so far, as plain data the page's modules pass to each other: no DOM here.
 *
 * level, finding: where the keyboard is (the current cell of the form); values: level -> finding -> value ("" = not given); boxes: {disc_level, finding_type, value, instance, box,
 * review_action, model_finding}; model: the model's findings from the API; modelDecisions: model finding id ->
 * "accepted" | "deleted" | "edited"; read: the API's read; dirty: changed since the last save. */

export function createReadState(schema) {
  return {
    schema, level: schema.levels[0], finding: schema.anchor || schema.findings[0].name,
    values: {}, boxes: [], model: [], modelDecisions: {},
    read: null, dirty: false, submitted: false,
  };
}

export function findingOf(state, name) {
  return state.schema.findings.find((finding) => finding.name === name);
}

export function valueOf(state, level, finding) {
  return (state.values[level] || {})[finding] || "";
}

/** Sets a level's value of a finding; the boxes of that level and finding carry it too. */
export function setValue(state, level, finding, value) {
  state.values[level] = state.values[level] || {};
  state.values[level][finding] = value;
  state.boxes.filter((box) => box.disc_level === level && box.finding_type === finding && value)
    .forEach((box) => { box.value = value; });
  state.dirty = true;
}

/** The next (step 1) or previous (step -1) level, wrapping round. */
export function stepLevel(state, step) {
  const levels = state.schema.levels;
  state.level = levels[(levels.indexOf(state.level) + step + levels.length) % levels.length];
}

/** The next (step 1) or previous (step -1) finding of the current level, wrapping round. */
export function stepFinding(state, step) {
  const names = state.schema.findings.map((finding) => finding.name);
  state.finding = names[(names.indexOf(state.finding) + step + names.length) % names.length];
}

/** The n-th (from 1) value of the current finding at the current level; returns it, or "" when there is none. */
export function setNthValue(state, n) {
  const value = findingOf(state, state.finding).values[n - 1];
  if (value !== undefined) setValue(state, state.level, state.finding, value);
  return value || "";
}

/** Exhaustive projects start every finding that has a negative value (finding.negative) at it. */
export function prefillNegatives(state) {
  for (const level of state.schema.levels) {
    for (const finding of state.schema.findings) {
      if (finding.negative && !valueOf(state, level, finding.name)) setValue(state, level, finding.name, finding.negative);
    }
  }
}
