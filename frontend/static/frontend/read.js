/* The reading page: the viewer, the per-level form, boxes, model pre-annotations, drafts and time on task. */
(function () {
  "use strict";
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const schema = page.schema;                       // {levels, findings: [{name, label, values, classes}]}
  const findingsByName = Object.fromEntries(schema.findings.map((f) => [f.name, f]));
  const negative = (f) => (f.values[0] in (f.classes || {}) ? "" : f.values[0]);
  const state = {
    level: schema.levels[0],
    values: {},          // level -> finding -> value ("" = not given)
    boxes: [],           // {disc_level, finding_type, value, instance, box, review_action, model_finding}
    model: [],           // model findings from the API
    modelDecisions: {},  // model finding id -> "accepted" | "deleted" | "edited"
    read: null, dirty: false, active: 0, lastInput: Date.now(), submitted: false,
  };
  // The primary double reading by default; a reader-study session passes its own endpoints (and no model
  // endpoint in an unaided arm).
  const endpoints = Object.assign({
    open: `/api/cases/${page.caseId}/read/`,
    draft: `/api/cases/${page.caseId}/read/draft/`,
    submit: `/api/cases/${page.caseId}/read/submit/`,
    model: `/api/cases/${page.caseId}/model-findings/`,
    back: "/worklist/",
  }, page.endpoints || {});
  const $ = (sel) => document.querySelector(sel);
  const status = (text, kind) => { const el = $("#status"); el.textContent = text; el.className = "status " + (kind || ""); };

  // Time on task: counted while the tab is visible and the reader has done something in the last minute, in
  // real elapsed time up to the moment of each save (a whole-second tick lost the part since the last tick).
  let lastTick = performance.now();
  function countActive() {
    const now = performance.now();
    if (!state.submitted && document.visibilityState === "visible" && Date.now() - state.lastInput < 60000) {
      state.active += (now - lastTick) / 1000;
      $("#timer").textContent = Math.round(state.active) + " s";
    }
    lastTick = now;
  }
  setInterval(countActive, 500);
  // A hidden tab's timers are throttled: never let the time it spent hidden into the next tick.
  document.addEventListener("visibilitychange", () => { lastTick = performance.now(); });
  ["mousemove", "keydown", "wheel", "mousedown"].forEach((name) =>
    window.addEventListener(name, () => { state.lastInput = Date.now(); }, {passive: true}));

  function buildForm() {
    const table = $("#grading");
    const head = "<tr><th>Level</th>" + schema.findings.map((f) => `<th>${f.label || f.name}</th>`).join("") + "</tr>";
    const rows = schema.levels.map((level) => {
      const cells = schema.findings.map((f) => {
        const options = [`<option value="">–</option>`].concat(f.values.map((v) => `<option value="${v}">${v}</option>`));
        return `<td><select data-level="${level}" data-finding="${f.name}" aria-label="${level} ${f.name}">${options.join("")}</select></td>`;
      }).join("");
      return `<tr data-level="${level}"><th><button type="button" class="level" data-level="${level}">${level}</button></th>${cells}</tr>`;
    }).join("");
    table.innerHTML = `<thead>${head}</thead><tbody>${rows}</tbody>`;
    table.addEventListener("change", (e) => {
      const el = e.target;
      if (!el.dataset.finding) return;
      setValue(el.dataset.level, el.dataset.finding, el.value);
    });
    table.addEventListener("click", (e) => { if (e.target.dataset.level && e.target.tagName === "BUTTON") selectLevel(e.target.dataset.level); });
    const boxFinding = $("#box-finding");
    boxFinding.innerHTML = schema.findings.map((f) => `<option value="${f.name}">${f.label || f.name}</option>`).join("");
  }

  function setValue(level, finding, value) {
    state.values[level] = state.values[level] || {};
    state.values[level][finding] = value;
    const select = document.querySelector(`select[data-level="${level}"][data-finding="${finding}"]`);
    if (select && select.value !== value) select.value = value;
    // Boxes of this level and finding carry its value.
    state.boxes.filter((b) => b.disc_level === level && b.finding_type === finding && value)
      .forEach((b) => { b.value = value; });
    markDirty();
  }

  function selectLevel(level) {
    state.level = level;
    document.querySelectorAll("#grading tr[data-level]").forEach((tr) => tr.classList.toggle("current", tr.dataset.level === level));
    $("#current-level").textContent = level;
  }

  function markDirty() { state.dirty = true; renderBoxes(); viewer.refresh(); }

  function positiveValue(findingName, level) {
    const f = findingsByName[findingName];
    const current = (state.values[level] || {})[findingName];
    if (current && current in (f.classes || {})) return current;
    return Object.keys(f.classes || {})[0] || f.values[f.values.length - 1];
  }

  function onBox(instanceId, box) {
    const finding = $("#box-finding").value;
    const value = positiveValue(finding, state.level);
    if ((state.values[state.level] || {})[finding] !== value) setValue(state.level, finding, value);
    state.boxes.push({disc_level: state.level, finding_type: finding, value, instance: instanceId, box, review_action: state.model.length > 0 ? "added" : ""});
    viewer.setMode("wl");
    markDirty();
    status(`Box added: ${state.level} ${finding} ${value}`, "ok");
  }

  function renderBoxes() {
    const list = $("#boxes");
    const rows = state.boxes.map((b, i) => `<li>${b.disc_level} ${b.finding_type}=${b.value} <small>(image ${b.instance})</small>
        <button type="button" data-remove="${i}" title="Delete box">✕</button></li>`);
    const pending = state.model.filter((m) => m.box && !state.modelDecisions[m.id]).map((m) =>
      `<li class="model">model: ${m.disc_level} ${m.finding_type}=${m.value} ${m.score != null ? "(" + m.score.toFixed(2) + ")" : ""}
        <button type="button" data-accept="${m.id}">Accept</button><button type="button" data-reject="${m.id}">Delete</button></li>`);
    list.innerHTML = rows.concat(pending).join("") || "<li class='muted'>No boxes yet: press B, then drag on the image.</li>";
  }

  $("#boxes").addEventListener("click", (e) => {
    const t = e.target.dataset;
    if (t.remove !== undefined) {
      const [removed] = state.boxes.splice(Number(t.remove), 1);
      if (removed.model_finding) state.modelDecisions[removed.model_finding] = "deleted";
    } else if (t.accept) {
      const m = state.model.find((x) => x.id === Number(t.accept));
      state.modelDecisions[m.id] = "accepted";
      state.boxes.push({disc_level: m.disc_level, finding_type: m.finding_type, value: m.value, instance: m.instance,
                        box: m.box, review_action: "accepted", model_finding: m.id});
      setValue(m.disc_level, m.finding_type, m.value);
    } else if (t.reject) {
      state.modelDecisions[Number(t.reject)] = "deleted";
    } else return;
    markDirty();
  });

  function findingsPayload() {
    const findings = [];
    for (const level of schema.levels) {
      for (const f of schema.findings) {
        const value = (state.values[level] || {})[f.name];
        if (!value) continue;
        const model = state.model.find((m) => !m.box && m.disc_level === level && m.finding_type === f.name);
        const action = model ? (model.value === value ? "accepted" : "edited") : (state.model.length > 0 ? "added" : "");
        findings.push({disc_level: level, finding_type: f.name, value, review_action: action, model_finding: model ? model.id : null});
      }
    }
    for (const b of state.boxes) {
      const model = b.model_finding && state.model.find((m) => m.id === b.model_finding);
      const action = model ? (model.value === b.value && JSON.stringify(model.box) === JSON.stringify(b.box) ? "accepted" : "edited") : b.review_action;
      findings.push({disc_level: b.disc_level, finding_type: b.finding_type, value: b.value, instance: b.instance,
                     box: b.box, review_action: action || "", model_finding: b.model_finding || null});
    }
    for (const m of state.model) {
      if (m.box && state.modelDecisions[m.id] === "deleted") {
        findings.push({disc_level: m.disc_level, finding_type: m.finding_type, value: m.value, instance: m.instance,
                       box: m.box, review_action: "deleted", model_finding: m.id});
      }
    }
    return findings;
  }

  async function saveDraft(keepalive) {
    if (state.submitted || !state.dirty) return;
    try {
      state.dirty = false;
      countActive();
      const read = await spineApi("PUT", endpoints.draft,
        {findings: findingsPayload(), active_seconds: state.active}, {keepalive: !!keepalive});
      status(`Draft saved ${new Date().toLocaleTimeString()}`, "ok");
      state.read = read;
    } catch (error) {
      state.dirty = true;
      status("Draft not saved: " + error.message, "error");
    }
  }

  async function submit() {
    if (state.submitted) return;
    try {
      countActive();
      const read = await spineApi("POST", endpoints.submit,
        {findings: findingsPayload(), active_seconds: state.active});
      state.submitted = true;
      state.read = read;
      document.body.classList.add("submitted");
      status(`Submitted (version ${read.version}). Thank you.`, "ok");
      $("#submit").disabled = true;
      $("#correct").hidden = !page.correctable;
    } catch (error) {
      status("Not submitted: " + error.message, "error");
    }
  }

  function loadRead(read) {
    state.read = read;
    state.active = read.active_seconds || 0;
    for (const f of read.findings) {
      if (f.review_action === "deleted") { state.modelDecisions[f.model_finding] = "deleted"; continue; }
      if (f.box) {
        state.boxes.push({disc_level: f.disc_level, finding_type: f.finding_type, value: f.value, instance: f.instance,
                          box: f.box, review_action: f.review_action, model_finding: f.model_finding});
        if (f.model_finding) state.modelDecisions[f.model_finding] = f.review_action;
      } else {
        state.values[f.disc_level] = state.values[f.disc_level] || {};
        state.values[f.disc_level][f.finding_type] = f.value;
        const select = document.querySelector(`select[data-level="${f.disc_level}"][data-finding="${f.finding_type}"]`);
        if (select) select.value = f.value;
      }
    }
    if (read.status === "submitted") {
      state.submitted = true;
      document.body.classList.add("submitted");
      $("#submit").disabled = true;
      $("#correct").hidden = !page.correctable;
      status(`This read was submitted ${read.submitted_at.slice(0, 16).replace("T", " ")}; it can no longer change.`, "ok");
    }
  }

  function prefill() {
    // Model values pre-fill the form (the reader accepts or edits them); elsewhere exhaustive projects start
    // every non-grade finding at its negative value.
    for (const m of state.model.filter((x) => !x.box)) {
      if (!(state.values[m.disc_level] || {})[m.finding_type]) setValue(m.disc_level, m.finding_type, m.value);
    }
    if (page.exhaustive) {
      for (const level of schema.levels) for (const f of schema.findings) {
        const value = negative(f);
        if (value && !(state.values[level] || {})[f.name]) setValue(level, f.name, value);
      }
    }
  }

  const viewer = new SpineViewer($("#viewer"), page.series, {
    preset: "default",
    onBox,
    onSlice: (v) => {
      $("#slice").textContent = `${v.currentSeries.plane} ${v.sliceIndex + 1} / ${v.currentSeries.instances.length}`;
      document.querySelectorAll("#series button").forEach((b, i) => b.classList.toggle("active", i === v.seriesIndex));
    },
    onMode: (mode) => { $("#mode").textContent = mode === "box" ? "Box: drag on the image" : "W/L: drag to window"; },
  });
  viewer.overlays = () => {
    const human = state.boxes.map((b) => ({instance: b.instance, box: b.box, color: "#4dd2ff", label: `${b.disc_level} ${b.finding_type} ${b.value}`,
                                           highlight: b.disc_level === state.level}));
    const model = state.model.filter((m) => m.box && !state.modelDecisions[m.id]).map((m) => ({
      instance: m.instance, box: m.box, color: "#ffb347", dashed: true, label: `${m.disc_level} ${m.finding_type} ${m.value}?`}));
    return human.concat(model);
  };

  $("#series").innerHTML = page.series.map((s, i) => `<button type="button" data-series="${i}">${s.plane} (${s.instances.length})</button>`).join("");
  $("#series").addEventListener("click", (e) => { if (e.target.dataset.series) viewer.showSeries(Number(e.target.dataset.series)); });
  $("#presets").addEventListener("change", (e) => viewer.applyPreset(e.target.value));
  $("#reset").addEventListener("click", () => viewer.reset());
  $("#zoom-in").addEventListener("click", () => viewer.zoom(1.25));
  $("#zoom-out").addEventListener("click", () => viewer.zoom(0.8));
  $("#box-mode").addEventListener("click", () => viewer.setMode(viewer.mode === "box" ? "wl" : "box"));
  $("#save").addEventListener("click", () => { state.dirty = true; saveDraft(); });
  $("#submit").addEventListener("click", submit);
  $("#correct").addEventListener("click", async () => {
    try {
      await spineApi("POST", `/api/reads/${state.read.id}/correct/`);
      window.location.reload();  // the page opens the new draft version
    } catch (error) {
      status("No correction: " + error.message, "error");
    }
  });

  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA") return;
    const levels = schema.levels;
    if (e.key === "ArrowDown" || e.key === "PageDown") { viewer.scroll(1); e.preventDefault(); }
    else if (e.key === "ArrowUp" || e.key === "PageUp") { viewer.scroll(-1); e.preventDefault(); }
    else if (/^[1-5]$/.test(e.key) && findingsByName.pfirrmann) setValue(state.level, "pfirrmann", e.key);
    else if (e.key === "n" || e.key === "N") selectLevel(levels[(levels.indexOf(state.level) + (e.shiftKey ? levels.length - 1 : 1)) % levels.length]);
    else if (e.key === "b" || e.key === "B") viewer.setMode(viewer.mode === "box" ? "wl" : "box");
    else if (e.key === "Escape") viewer.setMode("wl");
    else if (e.key === "r" || e.key === "R") viewer.reset();
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit();
  });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") saveDraft(true); });
  window.addEventListener("pagehide", () => saveDraft(true));
  setInterval(saveDraft, 10000);

  buildForm();
  selectLevel(schema.levels[0]);
  (async () => {
    const read = await spineApi("POST", endpoints.open);
    state.model = endpoints.model ? await spineApi("GET", endpoints.model) : [];
    loadRead(read);
    if (!read.findings.length && read.status === "draft") prefill();
    state.dirty = false;
    renderBoxes();
    await viewer.showSeries(0);
    document.body.dataset.ready = "1";
  })().catch((error) => status("Could not load the case: " + error.message, "error"));
})();
