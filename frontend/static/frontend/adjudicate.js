/* The senior's adjudication page: both reads on one image, the disagreeing items listed, one decision each. */
(function () {
  "use strict";
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const adjudication = page.adjudication;
  const findings = Object.fromEntries(page.schema.findings.map((f) => [f.name, f]));
  const own = {};        // item id -> box drawn by the senior
  let selected = null;   // item id whose own box is being drawn
  const $ = (sel) => document.querySelector(sel);
  const status = (text, kind) => { const el = $("#status"); el.textContent = text; el.className = "status " + (kind || ""); };
  const fmtBox = (box) => box ? `box [${box.map((v) => Math.round(v)).join(", ")}]` : "no box";

  function describe(item, side) {
    const value = item["value_" + side];
    if (item.kind === "value") return value == null ? "<em>not given</em>" : `<strong>${value}</strong>`;
    return `${value || ""} ${fmtBox(item["box_" + side])}`;
  }

  function renderItems() {
    const rows = adjudication.items.map((item) => {
      const values = findings[item.finding_type].values.map((v) => `<option value="${v}">${v}</option>`).join("");
      const ownControl = item.kind === "value"
        ? `<select data-own-value="${item.id}" aria-label="own value">${values}</select>`
        : `<button type="button" data-draw="${item.id}">Draw</button> <span data-own-box="${item.id}" class="muted">${fmtBox(own[item.id])}</span>`;
      return `<tr data-item="${item.id}" class="${selected === item.id ? "current" : ""}">
        <td><button type="button" class="link" data-show="${item.id}">${item.disc_level} ${item.finding_type}</button>
            <small class="muted">${item.kind}</small></td>
        <td>${describe(item, "a")}</td><td>${describe(item, "b")}</td>
        <td><label><input type="radio" name="choice-${item.id}" value="reader_a"> A</label>
            <label><input type="radio" name="choice-${item.id}" value="reader_b"> B</label>
            <label><input type="radio" name="choice-${item.id}" value="senior"> Own</label> ${ownControl}</td>
        <td><input type="text" data-reason="${item.id}" placeholder="optional" aria-label="reason"></td></tr>`;
    });
    $("#items tbody").innerHTML = rows.join("");
  }

  function readBoxes(read, color, label) {
    return read.findings.filter((f) => f.box && f.review_action !== "deleted").map((f) => ({
      instance: f.instance, box: f.box, color, label: `${label} ${f.disc_level} ${f.finding_type} ${f.value}`}));
  }

  const viewer = new SpineViewer($("#viewer"), page.series, {
    onBox: (instanceId, box) => {
      const item = adjudication.items.find((i) => i.id === selected);
      if (!item) { status("Select a box item first (Draw).", "error"); return; }
      if (item.instance !== instanceId) { status("Draw on the item's own image.", "error"); return; }
      own[item.id] = box;
      document.querySelector(`input[name="choice-${item.id}"][value="senior"]`).checked = true;
      document.querySelector(`[data-own-box="${item.id}"]`).textContent = fmtBox(box);
      viewer.setMode("wl");
      viewer.refresh();
    },
    onSlice: (v) => { $("#slice").textContent = `${v.currentSeries.plane} ${v.sliceIndex + 1} / ${v.currentSeries.instances.length}`; },
  });
  viewer.overlays = () => {
    const disputed = adjudication.items.filter((i) => i.kind === "box").flatMap((i) => [
      i.box_a && {instance: i.instance, box: i.box_a, color: "#4dd2ff", highlight: true, label: "A " + i.disc_level},
      i.box_b && {instance: i.instance, box: i.box_b, color: "#ff9f43", highlight: true, label: "B " + i.disc_level},
      own[i.id] && {instance: i.instance, box: own[i.id], color: "#7CFC00", highlight: true, label: "own " + i.disc_level},
    ]).filter(Boolean);
    return readBoxes(adjudication.read_a, "#4dd2ff", "A").concat(readBoxes(adjudication.read_b, "#ff9f43", "B"), disputed);
  };

  $("#items").addEventListener("click", (e) => {
    const t = e.target.dataset;
    const id = Number(t.show || t.draw);
    if (!id) return;
    const item = adjudication.items.find((i) => i.id === id);
    selected = id;
    if (item.instance) viewer.showInstance(item.instance);
    if (t.draw) viewer.setMode("box");
    document.querySelectorAll("#items tr[data-item]").forEach((tr) => tr.classList.toggle("current", Number(tr.dataset.item) === id));
  });
  $("#reset").addEventListener("click", () => viewer.reset());
  $("#box-mode").addEventListener("click", () => viewer.setMode(viewer.mode === "box" ? "wl" : "box"));
  $("#series").innerHTML = page.series.map((s, i) => `<button type="button" data-series="${i}">${s.plane} (${s.instances.length})</button>`).join("");
  $("#series").addEventListener("click", (e) => { if (e.target.dataset.series) viewer.showSeries(Number(e.target.dataset.series)); });

  $("#resolve").addEventListener("click", async () => {
    const decisions = [];
    for (const item of adjudication.items) {
      const choice = document.querySelector(`input[name="choice-${item.id}"]:checked`);
      if (!choice) { status(`Decide ${item.disc_level} ${item.finding_type} first.`, "error"); return; }
      const decision = {item: item.id, choice: choice.value, reason: document.querySelector(`[data-reason="${item.id}"]`).value};
      if (choice.value === "senior") {
        if (item.kind === "value") decision.value = document.querySelector(`[data-own-value="${item.id}"]`).value;
        else decision.box = own[item.id] || null;
      }
      decisions.push(decision);
    }
    try {
      const result = await spineApi("POST", `/api/adjudications/${page.adjudicationId}/resolve/`, {decisions});
      status(`Resolved by ${result.resolved_by}: the ground truth is written.`, "ok");
      $("#resolve").disabled = true;
      document.body.classList.add("submitted");
    } catch (error) {
      status((error.status === 409 ? "Already resolved: " : "Not resolved: ") + error.message, "error");
    }
  });

  renderItems();
  if (adjudication.status !== "open") { $("#resolve").disabled = true; status("This case is already resolved.", "ok"); }
  const first = adjudication.items.find((i) => i.instance);
  (first ? viewer.showInstance(first.instance) : viewer.showSeries(0)).then(() => { document.body.dataset.ready = "1"; });
})();
