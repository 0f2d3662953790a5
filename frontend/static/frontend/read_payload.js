/* The read state to and from the API's findings: one finding per given value, one per box, one per deleted
 * model box (the decision is data too). */
import {deletedModelBoxes, reviewOfBox, reviewOfValue} from "./model_review.js";
import {valueOf} from "./read_state.js";

function valueFindings(state) {
  const findings = [];
  for (const level of state.schema.levels) {
    for (const finding of state.schema.findings) {
      const value = valueOf(state, level, finding.name);
      if (value) findings.push({disc_level: level, finding_type: finding.name, value, ...reviewOfValue(state, level, finding.name, value)});
    }
  }
  return findings;
}

function boxFindings(state) {
  return state.boxes.map((box) => ({
    disc_level: box.disc_level, finding_type: box.finding_type, value: box.value, instance: box.instance, box: box.box,
    review_action: reviewOfBox(state, box), model_finding: box.model_finding || null}));
}

/** The findings of a draft or submit body. */
export function findingsPayload(state) {
  return [...valueFindings(state), ...boxFindings(state), ...deletedModelBoxes(state)];
}

/** Fills the state from a read the API returned (a draft being resumed, or a submitted read shown). */
export function loadRead(state, read) {
  state.read = read;
  for (const finding of read.findings) {
    if (finding.review_action === "deleted") {
      state.modelDecisions[finding.model_finding] = "deleted";
    } else if (finding.box) {
      state.boxes.push({disc_level: finding.disc_level, finding_type: finding.finding_type, value: finding.value,
                        instance: finding.instance, box: finding.box, review_action: finding.review_action,
                        model_finding: finding.model_finding});
      if (finding.model_finding) state.modelDecisions[finding.model_finding] = finding.review_action;
    } else {
      state.values[finding.disc_level] = state.values[finding.disc_level] || {};
      state.values[finding.disc_level][finding.finding_type] = finding.value;
    }
  }
  state.submitted = read.status === "submitted";
}
