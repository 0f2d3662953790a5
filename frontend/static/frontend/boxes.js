/* The reader's own boxes: each one of a disc level, a finding and a value, on one image. */
import {html, setHtml} from "./escape.js";
import {addedAction, modelListItems, modelOverlays, pendingModelBoxes, reviewClick} from "./model_review.js";
import {findingOf, setValue, valueOf} from "./read_state.js";

const HUMAN_COLOUR = "#4dd2ff";

/** The value a new box of a finding gets: the level's value if that is one a box can show (a detector class),
 * else the finding's first such value. */
export function boxValue(state, findingName, level) {
  const finding = findingOf(state, findingName);
  const classes = finding.classes || {};
  const current = valueOf(state, level, findingName);
  if (current && current in classes) return current;
  return Object.keys(classes)[0] || finding.values[finding.values.length - 1];
}

/** Adds a box at the current level; the level's value follows the box's. Returns the box. */
export function addBox(state, {findingName, instance, box}) {
  const value = boxValue(state, findingName, state.level);
  if (valueOf(state, state.level, findingName) !== value) setValue(state, state.level, findingName, value);
  const added = {disc_level: state.level, finding_type: findingName, value, instance, box,
                 review_action: addedAction(state)};
  state.boxes.push(added);
  state.dirty = true;
  return added;
}

export function removeBox(state, index) {
  const [removed] = state.boxes.splice(index, 1);
  if (removed.model_finding) state.modelDecisions[removed.model_finding] = "deleted";
  state.dirty = true;
}

/** Applies a click in the box list (delete a box, accept or delete a model box); returns whether it was one. */
export function boxListClick(state, dataset) {
  if (dataset.remove !== undefined) {
    removeBox(state, Number(dataset.remove));
    return true;
  }
  return reviewClick(state, dataset);
}

export function renderBoxList(list, state) {
  const own = state.boxes.map((box, i) => html`<li>${box.disc_level} ${box.finding_type}=${box.value} <small>(image ${box.instance})</small>
      <button type="button" data-remove="${i}" title="Delete box">✕</button></li>`);
  const items = own.concat(modelListItems(state));
  setHtml(list, items.length ? items : html`<li class="muted">No boxes yet: press B, then drag on the image.</li>`);
}

export function boxOverlays(state) {
  const own = state.boxes.map((box) => ({
    instance: box.instance, box: box.box, color: HUMAN_COLOUR, label: `${box.disc_level} ${box.finding_type} ${box.value}`,
    highlight: box.disc_level === state.level}));
  return own.concat(modelOverlays(state));
}

const BAND_MARGIN = 4;

/** The current level on an image of a series (`instanceIds`): the extent of its boxes (the reader's and the
 * model's pending ones) on any image of that series, whose slices share one pixel grid. {box, label} or null
 * when the level has no box there (the form's row still shows the level). */
export function levelBand(state, instanceIds) {
  const boxes = levelBoxes(state, instanceIds).map((box) => box.box);
  if (!boxes.length) return null;
  const box = [Math.min(...boxes.map((b) => b[0])) - BAND_MARGIN, Math.min(...boxes.map((b) => b[1])) - BAND_MARGIN,
               Math.max(...boxes.map((b) => b[2])) + BAND_MARGIN, Math.max(...boxes.map((b) => b[3])) + BAND_MARGIN];
  return {box: box.map((v) => Math.round(v)), label: state.level};
}

/** The current level's boxes (the reader's and the model's pending ones, {instance, box, ...}) on the images
 * `instanceIds`: where the page knows that level to lie. */
export function levelBoxes(state, instanceIds) {
  const ids = new Set(instanceIds);
  return [...state.boxes, ...pendingModelBoxes(state)].filter((box) => box.disc_level === state.level && ids.has(box.instance));
}
