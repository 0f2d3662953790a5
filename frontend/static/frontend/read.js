/* The reading page: the viewer, the levels x findings form, boxes, the model's pre-annotations, drafts and time
 * on task, composed over one read state. The page payload (#page-data) gives the schema (as
 * annotation/schema.py decides it) and the endpoints: the double reading's or a study session's, so this page
 * does not know which it is. */
import {request} from "./api.js";
import {addBox, boxListClick, boxOverlays, renderBoxList} from "./boxes.js";
import {bindHotkeys, gradeKeysHint} from "./hotkeys.js";
import {prefillFromModel} from "./model_review.js";
import {loadRead} from "./read_payload.js";
import {createReadState, prefillNegatives, setValue, stepLevel} from "./read_state.js";
import {buildReadingForm, syncForm} from "./reading_form.js";
import {autosave, createSaver} from "./saving.js";
import {statusLine} from "./status.js";
import {startTimer} from "./timer.js";
import {SpineViewer, bindSeriesButtons, showSlicePosition} from "./viewer.js";

const $ = (selector) => document.querySelector(selector);

function bindToolbar(viewer) {
  bindSeriesButtons($("#series"), viewer);
  $("#presets").addEventListener("change", (event) => viewer.applyPreset(event.target.value));
  $("#reset").addEventListener("click", () => viewer.reset());
  $("#zoom-in").addEventListener("click", () => viewer.zoom(1.25));
  $("#zoom-out").addEventListener("click", () => viewer.zoom(0.8));
  $("#box-mode").addEventListener("click", () => viewer.setMode(viewer.mode === "box" ? "wl" : "box"));
}

function createViewer(series, state, onBox) {
  const viewer = new SpineViewer($("#viewer"), series, {
    preset: "default",
    onBox,
    onSlice: (shown) => showSlicePosition(shown, $("#slice"), $("#series")),
    onMode: (mode) => { $("#mode").textContent = mode === "box" ? "Box: drag on the image" : "W/L: drag to window"; },
  });
  viewer.overlays = () => boxOverlays(state);
  bindToolbar(viewer);
  return viewer;
}

function showSubmitted(correctable) {
  document.body.classList.add("submitted");
  $("#submit").disabled = true;
  $("#correct").hidden = !correctable;
}

async function open(page, state, {timer, status, show}) {
  const read = await request("POST", page.endpoints.open);
  state.model = page.endpoints.model ? await request("GET", page.endpoints.model) : [];
  loadRead(state, read);
  timer.set(read.active_seconds || 0);
  if (state.submitted) {
    timer.stop();
    showSubmitted(Boolean(page.endpoints.correct));
    status(`This read was submitted ${read.submitted_at.slice(0, 16).replace("T", " ")}; it can no longer change.`, "ok");
  } else if (!read.findings.length && read.status === "draft") {
    // Model values pre-fill the form (the reader accepts or edits them); exhaustive projects start every
    // finding that has a negative value at it.
    prefillFromModel(state);
    if (page.exhaustive) prefillNegatives(state);
  }
  state.dirty = false;
  show();
}

function readingPage(page) {
  const state = createReadState(page.schema);
  const status = statusLine($("#status"));
  const timer = startTimer($("#timer"));
  const show = () => {
    syncForm($("#grading"), state);
    $("#current-level").textContent = state.level;
    renderBoxList($("#boxes"), state);
    viewer.refresh();
  };
  const viewer = createViewer(page.series, state, (instance, box) => {
    const added = addBox(state, {findingName: $("#box-finding").value, instance, box});
    viewer.setMode("wl");
    show();
    status(`Box added: ${added.disc_level} ${added.finding_type} ${added.value}`, "ok");
  });
  const saver = createSaver({state, timer, endpoints: page.endpoints, status, onSubmitted: () => {
    timer.stop();
    showSubmitted(Boolean(page.endpoints.correct));
  }});

  buildReadingForm({table: $("#grading"), boxFinding: $("#box-finding"), schema: page.schema,
                    onValue: (level, finding, value) => { setValue(state, level, finding, value); show(); },
                    onLevel: (level) => { state.level = level; show(); }});
  const hint = gradeKeysHint(page.schema);
  $("#grade-keys").textContent = hint ? `${hint} · ` : "";
  $("#boxes").addEventListener("click", (event) => { if (boxListClick(state, event.target.dataset)) show(); });
  $("#save").addEventListener("click", () => { state.dirty = true; saver.saveDraft(); });
  $("#submit").addEventListener("click", () => saver.submit());
  $("#correct").addEventListener("click", () => saver.correct());
  bindHotkeys({schema: page.schema, viewer, actions: {
    grade: (value) => { setValue(state, state.level, page.schema.anchor, value); show(); },
    stepLevel: (step) => { stepLevel(state, step); show(); },
    toggleBox: () => viewer.setMode(viewer.mode === "box" ? "wl" : "box"),
    exitBox: () => viewer.setMode("wl"),
    submit: () => saver.submit(),
  }});
  autosave(saver);
  show();
  return open(page, state, {timer, status, show})
    .then(() => viewer.showSeries(0))
    .then(() => { document.body.dataset.ready = "1"; })
    .catch((error) => status(`Could not load the case: ${error.message}`, "error"));
}

readingPage(JSON.parse(document.getElementById("page-data").textContent));
