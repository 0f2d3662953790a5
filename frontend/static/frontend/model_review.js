/* The reader's review of the model's pre-annotations: a model value pre-fills the form (kept = accepted,
 * changed = edited); a model box waits in the list until the reader accepts or deletes it; anything the
 * reader adds on a pre-annotated case is "added". The model's findings are never changed: each decision is a
 * new human finding that points at the model finding it reviews. */
import {html} from "./escape.js";
import {setValue, valueOf} from "./read_state.js";

const MODEL_COLOUR = "#ffb347";

export function pendingModelBoxes(state) {
  return state.model.filter((finding) => finding.box && !state.modelDecisions[finding.id]);
}

/** The review action of something the reader added by hand. */
export function addedAction(state) {
  return state.model.length > 0 ? "added" : "";
}

export function acceptModelBox(state, id) {
  const finding = state.model.find((candidate) => candidate.id === id);
  state.modelDecisions[id] = "accepted";
  state.boxes.push({disc_level: finding.disc_level, finding_type: finding.finding_type, value: finding.value,
                    instance: finding.instance, box: finding.box, review_action: "accepted", model_finding: id});
  setValue(state, finding.disc_level, finding.finding_type, finding.value);
}

export function rejectModelBox(state, id) {
  state.modelDecisions[id] = "deleted";
  state.dirty = true;
}

/** Accepts every model finding still waiting: each pending box as its Accept button does, and each model value
 * the reader has not given another value for. Findings the model did not mark keep what they have (in an
 * exhaustive project, the negative value pre-filled on opening). Returns how many it accepted. */
export function acceptAllModel(state) {
  const pending = pendingModelBoxes(state);
  pending.forEach((finding) => acceptModelBox(state, finding.id));
  let values = 0;
  for (const finding of state.model.filter((candidate) => !candidate.box)) {
    if (!valueOf(state, finding.disc_level, finding.finding_type)) {
      setValue(state, finding.disc_level, finding.finding_type, finding.value);
      values += 1;
    }
  }
  return pending.length + values;
}

/** The model's findings at one level and finding: {boxes: pending boxes, value: its value finding or undefined}. */
export function modelAt(state, level, findingName) {
  const here = (finding) => finding.disc_level === level && finding.finding_type === findingName;
  return {boxes: pendingModelBoxes(state).filter(here), value: state.model.find((f) => !f.box && here(f))};
}

/** Accepts the model at one level and finding (its pending boxes, or its value); returns the value or "". */
export function acceptModelAt(state, level, findingName) {
  const {boxes, value} = modelAt(state, level, findingName);
  boxes.forEach((finding) => acceptModelBox(state, finding.id));
  if (!boxes.length && value) setValue(state, level, findingName, value.value);
  return boxes.length ? boxes[0].value : (value ? value.value : "");
}

/** Rejects the model at one level and finding: its pending boxes are deleted; a model value the form still
 * holds is cleared, so that the reader gives their own. Returns whether there was anything to reject. */
export function rejectModelAt(state, level, findingName) {
  const {boxes, value} = modelAt(state, level, findingName);
  boxes.forEach((finding) => rejectModelBox(state, finding.id));
  const clear = !boxes.length && value && valueOf(state, level, findingName) === value.value;
  if (clear) setValue(state, level, findingName, "");
  return Boolean(boxes.length || clear);
}

/** Model values fill whatever the reader has not given yet. */
export function prefillFromModel(state) {
  for (const finding of state.model.filter((candidate) => !candidate.box)) {
    if (!valueOf(state, finding.disc_level, finding.finding_type)) {
      setValue(state, finding.disc_level, finding.finding_type, finding.value);
    }
  }
}

/** {review_action, model_finding} of the value the reader gives for a level's finding. */
export function reviewOfValue(state, level, findingName, value) {
  const model = state.model.find((finding) => !finding.box && finding.disc_level === level && finding.finding_type === findingName);
  if (!model) return {review_action: addedAction(state), model_finding: null};
  return {review_action: model.value === value ? "accepted" : "edited", model_finding: model.id};
}

/** The review action of a box: an accepted model box the reader then moved or regraded is "edited". */
export function reviewOfBox(state, box) {
  const model = box.model_finding && state.model.find((finding) => finding.id === box.model_finding);
  if (!model) return box.review_action || "";
  const same = model.value === box.value && JSON.stringify(model.box) === JSON.stringify(box.box);
  return same ? "accepted" : "edited";
}

/** The model boxes the reader deleted, as findings that record the decision. */
export function deletedModelBoxes(state) {
  return state.model.filter((finding) => finding.box && state.modelDecisions[finding.id] === "deleted")
    .map((finding) => ({disc_level: finding.disc_level, finding_type: finding.finding_type, value: finding.value,
                        instance: finding.instance, box: finding.box, review_action: "deleted", model_finding: finding.id}));
}

export function modelOverlays(state) {
  return pendingModelBoxes(state).map((finding) => ({
    instance: finding.instance, box: finding.box, color: MODEL_COLOUR, dashed: true, highlight: finding.disc_level === state.level,
    label: `${finding.disc_level} ${finding.finding_type} ${finding.value}?`}));
}

/** List items for the pending model boxes, with their Accept and Delete buttons. */
export function modelListItems(state) {
  return pendingModelBoxes(state).map((finding) => html`<li class="model">model: ${finding.disc_level} ${finding.finding_type}=${finding.value}
      ${finding.score != null ? `(${finding.score.toFixed(2)})` : ""}
      <button type="button" data-accept="${finding.id}">Accept</button><button type="button" data-reject="${finding.id}">Delete</button></li>`);
}

/** Applies a click in the box list on a model box; returns whether it was one. */
export function reviewClick(state, dataset) {
  if (dataset.accept) acceptModelBox(state, Number(dataset.accept));
  else if (dataset.reject) rejectModelBox(state, Number(dataset.reject));
  else return false;
  return true;
}
