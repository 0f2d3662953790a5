/* The reading page: the viewers (sagittal, and the axial beside it with its reference line on the sagittal), the
 * levels x findings form, boxes, the model's pre-annotations, drafts, time on task and the keyboard, composed
 * over one read state. The page payload (#page-data) gives the schema (as annotation/schema.py decides it), the
 * endpoints (the double reading's or a study session's, so this page does not know which it is) and, for the
 * double reading, the next case of the worklist. */
import {request} from "./api.js";
import {addBox, boxListClick, boxOverlays, levelBand, levelBoxes, renderBoxList} from "./boxes.js";
import {bindHotkeys} from "./hotkeys.js";
import {acceptAllModel, acceptModelAt, prefillFromModel, rejectModelAt} from "./model_review.js";
import {loadRead} from "./read_payload.js";
import {createReadState, findingOf, prefillNegatives, setNthValue, setValue, stepFinding, stepLevel} from "./read_state.js";
import {buildReadingForm, syncForm} from "./reading_form.js";
import {boxCentre, meanPoint, nearestSlice, referenceLine} from "./reference_line.js";
import {autosave, createSaver} from "./saving.js";
import {statusLine} from "./status.js";
import {startTimer} from "./timer.js";
import {SpineViewer, bindSeriesButtons, showSlicePosition} from "./viewer.js";

const $ = (selector) => document.querySelector(selector);

/** The sagittal viewer in #viewer and, when the case has both planes, the axial one beside it in #viewer-axial. */
function createViewers(series, state, onBox) {
  const axialSeries = series.filter((s) => s.plane === "axial");
  const sideBySide = axialSeries.length > 0 && axialSeries.length < series.length;
  const showPosition = () => showSlicePosition(main, $("#slice"), $("#series"), axial);
  const options = {preset: "default", onBox: (instance, box) => onBox(instance, box), onSlice: () => showPosition(),
                   onMode: (mode) => { $("#mode").textContent = mode === "box" ? "Box: drag on the image" : "W/L: drag to window"; }};
  // Laid out before either viewer is enabled: cornerstone sizes its canvas to the element once, on enabling.
  $("#viewer-axial").hidden = !sideBySide;
  const main = new SpineViewer($("#viewer"), sideBySide ? series.filter((s) => s.plane !== "axial") : series, options);
  let axial = null;
  if (sideBySide) {
    axial = new SpineViewer($("#viewer-axial"), axialSeries, {...options, onSlice: () => { showPosition(); main.refresh(); }});
    axial.overlays = () => boxOverlays(state);
  }
  main.overlays = () => boxOverlays(state);
  main.lines = () => referenceLines(main, axial);
  main.band = () => currentLevelBand(main, state);
  // The current level is always named on the sagittal, band or not (a level without boxes has no band).
  main.caption = () => state.level;
  bindSeriesButtons($("#series"), main);
  return {main, axial};
}

/** The current axial slice's line on the sagittal; its end points go to data-ref-line so tests can read them. */
function referenceLines(main, axial) {
  const target = main.imagePlane(), source = axial && axial.imagePlane();
  const line = target && source && main.currentSeries.plane === "sagittal" ? referenceLine(target, source) : null;
  main.element.dataset.refLine = line ? [line.start.x, line.start.y, line.end.x, line.end.y].map((v) => v.toFixed(1)).join(",") : "";
  return line ? [{...line, label: `axial ${axial.sliceIndex + 1}`}] : [];
}

function currentLevelBand(viewer, state) {
  const band = levelBand(state, viewer.currentSeries.instances.map((instance) => instance.id));
  viewer.element.dataset.levelBand = band ? `${state.level}:${band.box.join(",")}` : "";
  return band;
}

/** The axial follows the level: on a move to another level whose boxes on the sagittal (the reader's or the
 * model's) say where it lies, the axial viewer jumps to the slice nearest their centre, and the reference line
 * with it. Without such boxes the axial stays where it is; PageUp/PageDown move it freely either way. Only the
 * latest move counts when the files load slower than the reader presses j. */
function levelFollower(viewers, state) {
  // Not on opening: the axial starts in the middle, and fetching its files (each fetch writes an access-log row)
  // while the reader's first keys (Shift+A, Enter) submit would compete for SQLite's single writer.
  let followed = state.level, latest = 0;
  return async () => {
    const {main, axial} = viewers;
    if (!axial || state.level === followed) return;
    followed = state.level;
    const ticket = ++latest;
    const sagittalIds = main.series.filter((series) => series.plane === "sagittal")
      .flatMap((series) => series.instances.map((instance) => instance.id));
    const boxes = levelBoxes(state, sagittalIds);
    if (!boxes.length) return;
    const centres = await Promise.all(boxes.map((box) => main.planeOf(box.instance)
      .then((plane) => plane && boxCentre(plane, box.box))));
    const index = nearestSlice(await axial.seriesPlanes(), meanPoint(centres.filter(Boolean)));
    if (ticket === latest && index >= 0 && index !== axial.sliceIndex) await axial.showSlice(index, false);
  };
}

function bindToolbar(viewers) {
  const each = (action) => [viewers.main, viewers.axial].filter(Boolean).forEach(action);
  $("#presets").addEventListener("change", (event) => each((viewer) => viewer.applyPreset(event.target.value)));
  $("#reset").addEventListener("click", () => each((viewer) => viewer.reset()));
  $("#zoom-in").addEventListener("click", () => viewers.main.zoom(1.25));
  $("#zoom-out").addEventListener("click", () => viewers.main.zoom(0.8));
  $("#box-mode").addEventListener("click", () => toggleBox(viewers));
}

function toggleBox(viewers, mode) {
  const next = mode || (viewers.main.mode === "box" ? "wl" : "box");
  [viewers.main, viewers.axial].filter(Boolean).forEach((viewer) => viewer.setMode(next));
}

/** After a submit: the "Next case" link (focused, so Enter opens it), or the way back when none is left. */
function showSubmitted(page, correctable) {
  document.body.classList.add("submitted");
  $("#submit").disabled = true;
  $("#accept-all").disabled = true;
  $("#correct").hidden = !correctable;
  const next = $("#next-case");
  if (page.next) {
    next.href = page.next;
    next.hidden = false;
    next.focus();
  } else {
    $("#no-next").hidden = !("next" in page);
    $("#back").focus();
  }
}

async function open(page, state, {timer, status, show}) {
  const read = await request("POST", page.endpoints.open);
  state.model = page.endpoints.model ? await request("GET", page.endpoints.model) : [];
  loadRead(state, read);
  timer.set(read.active_seconds || 0);
  if (state.submitted) {
    timer.stop();
    showSubmitted(page, Boolean(page.endpoints.correct));
    status(`This read was submitted ${read.submitted_at.slice(0, 16).replace("T", " ")}; it can no longer change.`, "ok");
  } else if (!read.findings.length && read.status === "draft") {
    // Model values pre-fill the form (the reader accepts or edits them); exhaustive projects start every
    // finding that has a negative value at it.
    prefillFromModel(state);
    if (page.exhaustive) prefillNegatives(state);
  } else {
    status(`Draft resumed: ${read.findings.length} finding(s) as you left them.`, "ok");
  }
  $("#accept-all").disabled = state.submitted || !state.model.length;
  state.dirty = false;
  show();
}

function keyActions({page, state, viewers, saver, status, change}) {
  const where = () => `${state.level} ${findingOf(state, state.finding).label}`;
  return {
    stepLevel: (step) => change(() => stepLevel(state, step)),
    stepFinding: (step) => change(() => stepFinding(state, step)),
    value: (n) => {
      if (state.submitted) return;
      const value = change(() => setNthValue(state, n));
      if (value) status(`${where()}: ${value}`, "ok");
    },
    acceptCurrent: () => {
      if (state.submitted) return;
      const value = change(() => acceptModelAt(state, state.level, state.finding));
      status(value ? `Accepted the model's ${where()}: ${value}` : `The model has nothing at ${where()}.`, value ? "ok" : "");
    },
    rejectCurrent: () => {
      if (state.submitted) return;
      const done = change(() => rejectModelAt(state, state.level, state.finding));
      status(done ? `Rejected the model's ${where()}: give your own value.` : `The model has nothing at ${where()}.`, done ? "ok" : "");
    },
    acceptAll: () => acceptAll(state, status, change),
    saveDraft: () => { state.dirty = true; saver.saveDraft(); },
    submit: () => saver.submit(),
    toggleBox: () => toggleBox(viewers),
    exitBox: () => toggleBox(viewers, "wl"),
    reset: () => [viewers.main, viewers.axial].filter(Boolean).forEach((viewer) => viewer.reset()),
    toggleLegend: () => { $("#key-legend").hidden = !$("#key-legend").hidden; },
    scroll: (step) => viewers.main.scroll(step),
    scrollAxial: (step) => (viewers.axial || viewers.main).scroll(step),
  };
}

function acceptAll(state, status, change) {
  if (state.submitted) return;
  if (!state.model.length) { status("This case has no model findings to accept.", ""); return; }
  const count = change(() => acceptAllModel(state));
  status(count ? `Accepted ${count} model finding(s); press Enter to submit.` : "No model finding is waiting: all are decided.", "ok");
}

function readingPage(page) {
  const state = createReadState(page.schema);
  const status = statusLine($("#status"));
  const timer = startTimer($("#timer"));
  const show = () => {
    syncForm($("#grading"), state);
    $("#current-level").textContent = `${state.level} · ${findingOf(state, state.finding).label}`;
    renderBoxList($("#boxes"), state);
    viewers.main.refresh();
    if (viewers.axial) viewers.axial.refresh();
    if (document.body.dataset.ready) follow();
  };
  const change = (update) => { const result = update(); show(); return result; };
  const viewers = createViewers(page.series, state, (instance, box) => {
    const added = addBox(state, {findingName: $("#box-finding").value, instance, box});
    toggleBox(viewers, "wl");
    show();
    status(`Box added: ${added.disc_level} ${added.finding_type} ${added.value}`, "ok");
  });
  const follow = levelFollower(viewers, state);
  bindToolbar(viewers);
  const saver = createSaver({state, timer, endpoints: page.endpoints, status, onSubmitted: () => {
    timer.stop();
    showSubmitted(page, Boolean(page.endpoints.correct));
  }});

  buildReadingForm({table: $("#grading"), boxFinding: $("#box-finding"), schema: page.schema,
                    onValue: (level, finding, value) => change(() => {
                      Object.assign(state, {level, finding});
                      setValue(state, level, finding, value);
                    }),
                    onLevel: (level) => change(() => { state.level = level; })});
  $("#boxes").addEventListener("click", (event) => { if (boxListClick(state, event.target.dataset)) show(); });
  $("#save").addEventListener("click", () => { state.dirty = true; saver.saveDraft(); });
  $("#submit").addEventListener("click", () => saver.submit());
  $("#accept-all").addEventListener("click", () => acceptAll(state, status, change));
  $("#correct").addEventListener("click", () => saver.correct());
  bindHotkeys({actions: keyActions({page, state, viewers, saver, status, change})});
  autosave(saver);
  show();
  return open(page, state, {timer, status, show})
    // One image after the other: the sagittal is the one to grade on, so it comes first.
    .then(() => viewers.main.showSeries(0))
    .then(() => viewers.axial && viewers.axial.showSeries(0))
    .then(() => { document.body.dataset.ready = "1"; return follow(); })  // a level moved to while loading
    .catch((error) => status(`Could not load the case: ${error.message}`, "error"));
}

readingPage(JSON.parse(document.getElementById("page-data").textContent));
