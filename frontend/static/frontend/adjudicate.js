/* The senior's adjudication page: both reads on one image, the disagreeing items listed, one decision each.
 * The page payload gives the adjudication, the schema and the resolve endpoint. */
import {request} from "./api.js";
import {collectDecisions, markSelected, renderItems, showOwnBox} from "./adjudication_form.js";
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
    status(`Resolved by ${result.resolved_by}: the ground truth is written.`, "ok");
    $("#resolve").disabled = true;
    document.body.classList.add("submitted");
  } catch (error) {
    status(`${error.status === 409 ? "Already resolved" : "Not resolved"}: ${error.message}`, "error");
  }
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
  $("#resolve").addEventListener("click", () => resolve(page, tbody, choice.own, status));

  renderItems(tbody, {items: adjudication.items, schema: page.schema, own: choice.own, selected: choice.selected});
  if (adjudication.status !== "open") { $("#resolve").disabled = true; status("This case is already resolved.", "ok"); }
  const first = adjudication.items.find((item) => item.instance);
  (first ? viewer.showInstance(first.instance) : viewer.showSeries(0))
    .then(() => { document.body.dataset.ready = "1"; })
    .catch((error) => status(`Could not show the images: ${error.message}`, "error"));
}

adjudicationPage(JSON.parse(document.getElementById("page-data").textContent));
