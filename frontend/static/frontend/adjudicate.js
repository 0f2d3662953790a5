/* The senior's adjudication page: both reads on one image, the disagreeing items listed, one decision each.
 * The page payload gives the adjudication, the schema and the resolve endpoint. */
import {request} from "./api.js";
import {collectDecisions, decide, markSelected, renderItems, showOwnBox} from "./adjudication_form.js";
import {statusLine} from "./status.js";
import {SpineViewer, bindSeriesButtons, showSlicePosition} from "./viewer.js";

const $ = (selector) => document.querySelector(selector);
const COLOURS = {a: "#4dd2ff", b: "#ff9f43", own: "#7CFC00"};

function readBoxes(read, color, label) {
  return read.findings.filter((finding) => finding.box && finding.review_action !== "deleted").map((finding) => ({
    instance: finding.instance, box: finding.box, color, label: `${label} ${finding.disc_level} ${finding.finding_type} ${finding.value}`}));
}

function overlays(adjudication, own) {
  const disputed = adjudication.items.filter((item) => item.kind === "box").flatMap((item) => [
    item.box_a && {instance: item.instance, box: item.box_a, color: COLOURS.a, highlight: true, label: `A ${item.disc_level}`},
    item.box_b && {instance: item.instance, box: item.box_b, color: COLOURS.b, highlight: true, label: `B ${item.disc_level}`},
    own[item.id] && {instance: item.instance, box: own[item.id], color: COLOURS.own, highlight: true, label: `own ${item.disc_level}`},
  ]).filter(Boolean);
  return readBoxes(adjudication.read_a, COLOURS.a, "A").concat(readBoxes(adjudication.read_b, COLOURS.b, "B"), disputed);
}

async function resolve(page, tbody, own, status) {
  let decisions;
  try {
    decisions = collectDecisions(tbody, page.adjudication.items, own);
  } catch (error) {
    status(error.message, "error");
    return;
  }
  try {
    const result = await request("POST", page.endpoints.resolve, {decisions});
    $("#resolve").disabled = true;
    document.body.classList.add("submitted");
    showNextCase(page, status, `Resolved by ${result.resolved_by}: the ground truth is written.`);
  } catch (error) {
    status(`${error.status === 409 ? "Already resolved" : "Not resolved"}: ${error.message}`, "error");
  }
}

/** After resolving: "Next case" opens the next open adjudication of the queue (key n, or Enter on the link). */
function showNextCase(page, status, done) {
  const next = $("#next-case");
  if (page.next) {
    next.href = page.next;
    next.hidden = false;
    next.focus();
    status(`${done} Next case: press n or Enter.`, "ok");
  } else {
    status(`${done} Nothing else is waiting in your queue.`, "ok");
  }
}

const TYPING = "input[type=text], select, textarea";

/** The keyboard on the current item: a / b / o (then 1-9 for an own value), j/k or the arrows between items,
 * Ctrl+Enter submits, n opens the next case once this one is resolved. */
function bindDecisionKeys({page, tbody, choice, viewer, status, submit}) {
  const {items} = page.adjudication;
  const findings = Object.fromEntries(page.schema.findings.map((finding) => [finding.name, finding]));
  const at = () => Math.max(0, items.findIndex((item) => item.id === choice.selected));
  const select = (index, show = true) => {
    const item = items[Math.max(0, Math.min(items.length - 1, index))];
    if (!item) return;
    choice.selected = item.id;
    markSelected(tbody, item.id);
    if (show && item.instance) viewer.showInstance(item.instance);
  };
  const decided = (words) => { status(words, "ok"); if (at() < items.length - 1) select(at() + 1); };
  document.addEventListener("keydown", (event) => {
    const key = event.key;
    if (key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); return; }
    if (event.target.closest(TYPING) || event.ctrlKey || event.metaKey || event.altKey) return;
    const item = items[at()];
    if (key === "j" || key === "ArrowDown") { select(at() + 1); event.preventDefault(); }
    else if (key === "k" || key === "ArrowUp") { select(at() - 1); event.preventDefault(); }
    else if (key === "n" && document.body.classList.contains("submitted") && page.next) window.location.assign(page.next);
    else if (!item || document.body.classList.contains("submitted")) return;
    else if (key === "a" || key === "b") decided(decide(tbody, item, key === "a" ? "reader_a" : "reader_b"));
    else if (key === "o" && item.kind === "value") {
      decide(tbody, item, "senior");
      const values = findings[item.finding_type].values.slice(0, 9).map((value, i) => `${i + 1} ${value}`);
      status(`Own value for ${item.disc_level} ${item.finding_type}: press ${values.join(", ")}.`);
    } else if (key === "o") {
      choice.selected = item.id;
      viewer.setMode("box");
      status(`Draw your own box for ${item.disc_level} ${item.finding_type} on the image.`);
    } else if (/^[1-9]$/.test(key) && item.kind === "value") {
      const value = findings[item.finding_type].values[Number(key) - 1];
      if (value != null) decided(decide(tbody, item, "senior", value));
    }
  });
  select(0, false);  // the page shows the first item's image itself once the viewer is ready
}

function adjudicationPage(page) {
  const {adjudication} = page;
  const tbody = $("#items tbody");
  const status = statusLine($("#status"));
  const choice = {own: {}, selected: null};  // the senior's own boxes by item id; the item being drawn for
  const viewer = new SpineViewer($("#viewer"), page.series, {
    onBox: (instance, box) => {
      const item = adjudication.items.find((candidate) => candidate.id === choice.selected);
      if (!item) { status("Select a box item first (Draw).", "error"); return; }
      if (item.instance !== instance) { status("Draw on the item's own image.", "error"); return; }
      choice.own[item.id] = box;
      showOwnBox(tbody, item, box);
      viewer.setMode("wl");
      viewer.refresh();
    },
    onSlice: (shown) => showSlicePosition(shown, $("#slice"), $("#series")),
  });
  viewer.overlays = () => overlays(adjudication, choice.own);
  bindSeriesButtons($("#series"), viewer);
  $("#reset").addEventListener("click", () => viewer.reset());
  $("#box-mode").addEventListener("click", () => viewer.setMode(viewer.mode === "box" ? "wl" : "box"));
  $("#items").addEventListener("click", (event) => {
    const {show, draw} = event.target.dataset;
    const item = adjudication.items.find((candidate) => candidate.id === Number(show || draw));
    if (!item) return;
    choice.selected = item.id;
    if (item.instance) viewer.showInstance(item.instance);
    if (draw) viewer.setMode("box");
    markSelected(tbody, item.id);
  });
  const submit = () => { if (!$("#resolve").disabled) resolve(page, tbody, choice.own, status); };
  $("#resolve").addEventListener("click", submit);

  renderItems(tbody, {items: adjudication.items, schema: page.schema, own: choice.own, selected: choice.selected});
  bindDecisionKeys({page, tbody, choice, viewer, status, submit});
  if (adjudication.status !== "open") {
    $("#resolve").disabled = true;
    document.body.classList.add("submitted");
    showNextCase(page, status, "This case is already resolved.");
  }
  const first = adjudication.items.find((item) => item.id === choice.selected && item.instance)
    || adjudication.items.find((item) => item.instance);
  (first ? viewer.showInstance(first.instance) : viewer.showSeries(0))
    .then(() => { document.body.dataset.ready = "1"; })
    .catch((error) => status(`Could not show the images: ${error.message}`, "error"));
}

adjudicationPage(JSON.parse(document.getElementById("page-data").textContent));
