/* SpineRead DICOM viewer on cornerstone (legacy packages, no build step).
 *
 * One SpineViewer per viewport (the reading page puts an axial one beside the sagittal): series switching (sagittal/axial), slice scrolling (wheel, arrow keys),
 * window/level (presets, left drag), zoom (right drag), pan (middle drag), reset, and boxes drawn on an
 * overlay from the page's findings. Box drawing is the page's own mouse handling in "box" mode, so that each
 * box is tied to an instance, a disc level and a finding. Images come from the authenticated WADO-URI
 * endpoint whose URL each instance of the page payload carries; the session cookie goes along.
 *
 * cornerstone, cornerstoneTools, cornerstoneMath, cornerstoneWADOImageLoader, dicomParser and Hammer are the
 * vendor classic scripts that _viewer_scripts.html loads before this module; they are globals by design.
 */
import {html, setHtml} from "./escape.js";

let initialised = false;

function initCornerstone() {
  if (initialised) return;
  cornerstoneWADOImageLoader.external.cornerstone = cornerstone;
  cornerstoneWADOImageLoader.external.dicomParser = dicomParser;
  cornerstoneWADOImageLoader.webWorkerManager.initialize({
    maxWebWorkers: 1, startWebWorkersOnDemand: true,
    taskConfiguration: {decodeTask: {initializeCodecsOnStartup: false}},
  });
  cornerstoneTools.external.cornerstone = cornerstone;
  cornerstoneTools.external.cornerstoneMath = cornerstoneMath;
  cornerstoneTools.external.Hammer = Hammer;
  cornerstoneTools.init({showSVGCursors: false});
  initialised = true;
}

/** An instance's plane (cornerstone's imagePlaneModule of its loaded DICOM) with its size, or null before the
 * file is loaded or when it carries no geometry. */
function instancePlane(instance) {
  const plane = cornerstone.metaData.get("imagePlaneModule", "wadouri:" + instance.url);
  if (!plane || !plane.imagePositionPatient || !plane.rowCosines || !plane.columnCosines) return null;
  return {...plane, rows: instance.rows, columns: instance.columns,
          rowPixelSpacing: plane.rowPixelSpacing || 1, columnPixelSpacing: plane.columnPixelSpacing || 1};
}

function loadPlane(instance) {
  return cornerstone.loadAndCacheImage("wadouri:" + instance.url).then(() => instancePlane(instance), () => null);
}

const PRESETS = {default: null, "T2 spine": [1200, 600], bright: [600, 300], wide: [2500, 1250]};

export class SpineViewer {
  constructor(element, series, options) {
    initCornerstone();
    this.element = element;
    this.series = series;           // [{id, plane, description, instances: [{id, url, rows, columns}]}]
    this.options = options || {};
    this.seriesIndex = 0;
    this.sliceIndex = 0;
    this.mode = "wl";                // "wl" or "box"
    this.overlays = () => [];        // page supplies: [{instance, box:[x0,y0,x1,y1], color, dashed, label}]
    this.lines = () => [];           // page supplies, on the current image: [{start:{x,y}, end:{x,y}, color, label}]
    this.band = () => null;          // page supplies, on the current image: {box:[x0,y0,x1,y1], label} or null
    this.caption = () => "";         // page supplies: a line of text in the top-left corner (the current level)
    this.drag = null;
    cornerstone.enable(element);
    element.addEventListener("contextmenu", (event) => event.preventDefault());  // right drag zooms
    ["Wwwc", "Zoom", "Pan"].forEach((name) => cornerstoneTools.addToolForElement(element, cornerstoneTools[name + "Tool"]));
    this.setMode("wl");
    cornerstoneTools.setToolActiveForElement(element, "Zoom", {mouseButtonMask: 2});
    cornerstoneTools.setToolActiveForElement(element, "Pan", {mouseButtonMask: 4});
    element.addEventListener("cornerstoneimagerendered", (e) => this.drawOverlays(e.detail));
    element.addEventListener("wheel", (e) => { e.preventDefault(); this.scroll(e.deltaY > 0 ? 1 : -1); }, {passive: false});
    element.addEventListener("contextmenu", (e) => e.preventDefault());
    element.addEventListener("mousedown", (e) => this.boxStart(e), true);
    window.addEventListener("mousemove", (e) => this.boxMove(e));
    window.addEventListener("mouseup", (e) => this.boxEnd(e));
    window.addEventListener("resize", () => cornerstone.resize(element, true));
  }

  get currentSeries() { return this.series[this.seriesIndex]; }
  get currentInstance() { return this.currentSeries.instances[this.sliceIndex]; }

  showSeries(index, sliceIndex) {
    this.seriesIndex = index;
    const count = this.currentSeries.instances.length;
    const middle = Math.floor((count - 1) / 2);
    return this.showSlice(sliceIndex === undefined ? middle : sliceIndex, true);
  }

  showInstance(instanceId) {
    for (let s = 0; s < this.series.length; s++) {
      const i = this.series[s].instances.findIndex((inst) => inst.id === instanceId);
      if (i >= 0) return this.showSeries(s, i);
    }
    return Promise.resolve();
  }

  showSlice(index, resetView) {
    const instances = this.currentSeries.instances;
    this.sliceIndex = Math.max(0, Math.min(instances.length - 1, index));
    const imageId = "wadouri:" + instances[this.sliceIndex].url;
    const keep = resetView ? null : cornerstone.getViewport(this.element);
    return cornerstone.loadAndCacheImage(imageId).then((image) => {
      if (keep && this.hasImage) {
        cornerstone.displayImage(this.element, image, keep);
      } else {
        cornerstone.displayImage(this.element, image);
        this.applyPreset(this.options.preset || "default");
      }
      this.hasImage = true;
      this.element.dataset.slice = String(this.sliceIndex);
      this.element.dataset.instance = String(instances[this.sliceIndex].id);
      if (this.options.onSlice) this.options.onSlice(this);
    });
  }

  scroll(delta) { return this.showSlice(this.sliceIndex + delta, false); }

  /** The current image's plane (cornerstone's imagePlaneModule of the loaded DICOM) with its size, or null
   * before an image is shown or when the file carries no geometry. */
  imagePlane() {
    return this.hasImage ? instancePlane(this.currentInstance) : null;
  }

  /** The planes of the current series' slices, in slice order (null where a file has no geometry): each file is
   * fetched once (cornerstone's cache keeps it, so showing it later costs nothing). */
  seriesPlanes() {
    return Promise.all(this.currentSeries.instances.map((instance) => loadPlane(instance)));
  }

  /** The plane of an instance (by id) of any of this viewer's series, or null. */
  planeOf(instanceId) {
    const instance = this.series.flatMap((series) => series.instances).find((candidate) => candidate.id === instanceId);
    return instance ? loadPlane(instance) : Promise.resolve(null);
  }

  applyPreset(name) {
    const viewport = cornerstone.getViewport(this.element);
    const image = cornerstone.getImage(this.element);
    if (!viewport || !image) return;
    const preset = PRESETS[name];
    viewport.voi.windowWidth = preset ? preset[0] : image.windowWidth || 400;
    viewport.voi.windowCenter = preset ? preset[1] : image.windowCenter || 200;
    cornerstone.setViewport(this.element, viewport);
  }

  reset() { cornerstone.reset(this.element); this.applyPreset(this.options.preset || "default"); }

  zoom(factor) {
    const viewport = cornerstone.getViewport(this.element);
    viewport.scale *= factor;
    cornerstone.setViewport(this.element, viewport);
  }

  setMode(mode) {
    this.mode = mode;
    if (mode === "box") cornerstoneTools.setToolPassiveForElement(this.element, "Wwwc");
    else cornerstoneTools.setToolActiveForElement(this.element, "Wwwc", {mouseButtonMask: 1});
    this.element.classList.toggle("box-mode", mode === "box");
    if (this.options.onMode) this.options.onMode(mode);
  }

  refresh() { if (this.hasImage) cornerstone.updateImage(this.element); }

  toPixel(event) {
    const rect = this.element.getBoundingClientRect();
    return cornerstone.canvasToPixel(this.element, {x: event.clientX - rect.left, y: event.clientY - rect.top});
  }

  boxStart(event) {
    if (this.mode !== "box" || event.button !== 0 || !this.hasImage) return;
    event.preventDefault();
    event.stopPropagation();
    const start = this.toPixel(event);
    this.drag = {start, end: start};
  }

  boxMove(event) {
    if (!this.drag) return;
    this.drag.end = this.toPixel(event);
    this.refresh();
  }

  boxEnd(event) {
    if (!this.drag) return;
    const {start, end} = this.drag;
    this.drag = null;
    const inst = this.currentInstance;
    const clamp = (v, max) => Math.max(0, Math.min(max, v));
    const box = [clamp(Math.min(start.x, end.x), inst.columns), clamp(Math.min(start.y, end.y), inst.rows),
                 clamp(Math.max(start.x, end.x), inst.columns), clamp(Math.max(start.y, end.y), inst.rows)]
      .map((v) => Math.round(v * 10) / 10);
    this.refresh();
    if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2 && this.options.onBox) this.options.onBox(inst.id, box);
  }

  drawOverlays(detail) {
    const context = detail.canvasContext;
    const instanceId = this.currentInstance && this.currentInstance.id;
    const shapes = this.overlays().filter((o) => o.instance === instanceId);
    if (this.drag) shapes.push({box: [this.drag.start.x, this.drag.start.y, this.drag.end.x, this.drag.end.y], color: "#ffe14d"});
    context.save();
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.font = "12px system-ui, sans-serif";
    for (const shape of shapes) {
      const a = cornerstone.pixelToCanvas(this.element, {x: shape.box[0], y: shape.box[1]});
      const b = cornerstone.pixelToCanvas(this.element, {x: shape.box[2], y: shape.box[3]});
      context.strokeStyle = shape.color || "#4dd2ff";
      context.lineWidth = shape.highlight ? 3 : 1.5;
      context.setLineDash(shape.dashed ? [5, 4] : []);
      context.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
      if (shape.label) {
        context.fillStyle = shape.color || "#4dd2ff";
        context.fillText(shape.label, Math.min(a.x, b.x) + 2, Math.min(a.y, b.y) - 3);
      }
    }
    this.drawBand(context);
    this.drawLines(context);
    this.drawCaption(context);
    context.restore();
  }

  drawCaption(context) {
    const caption = this.caption();
    this.element.dataset.caption = caption;
    if (!caption) return;
    context.font = "bold 15px system-ui, sans-serif";
    const width = context.measureText(caption).width;
    context.fillStyle = "rgba(0, 0, 0, 0.6)";
    context.fillRect(6, 6, width + 12, 24);
    context.fillStyle = "#ffe14d";
    context.fillText(caption, 12, 23);
  }

  drawBand(context) {
    const band = this.band();
    if (!band) return;
    const a = cornerstone.pixelToCanvas(this.element, {x: band.box[0], y: band.box[1]});
    const b = cornerstone.pixelToCanvas(this.element, {x: band.box[2], y: band.box[3]});
    context.setLineDash([]);
    context.fillStyle = "rgba(255, 225, 77, 0.12)";
    context.fillRect(a.x, a.y, b.x - a.x, b.y - a.y);
    context.strokeStyle = "#ffe14d";
    context.lineWidth = 2;
    context.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    context.fillStyle = "#ffe14d";
    context.fillText(band.label, Math.max(a.x, b.x) + 4, (a.y + b.y) / 2 + 4);
  }

  drawLines(context) {
    for (const line of this.lines()) {
      const a = cornerstone.pixelToCanvas(this.element, line.start);
      const b = cornerstone.pixelToCanvas(this.element, line.end);
      context.strokeStyle = line.color || "#7CFC00";
      context.lineWidth = 1.5;
      context.setLineDash([8, 4]);
      context.beginPath();
      context.moveTo(a.x, a.y);
      context.lineTo(b.x, b.y);
      context.stroke();
      if (line.label) {
        context.fillStyle = line.color || "#7CFC00";
        context.fillText(line.label, Math.min(a.x, b.x) + 4, Math.min(a.y, b.y) - 4);
      }
    }
  }
}

/** The series buttons of the toolbar: one per series, the current one marked, a click switches. */
export function bindSeriesButtons(container, viewer) {
  setHtml(container, viewer.series.map((series, i) =>
    html`<button type="button" data-series="${i}">${series.plane} (${series.instances.length})</button>`));
  container.addEventListener("click", (event) => {
    if (event.target.dataset.series) viewer.showSeries(Number(event.target.dataset.series));
  });
}

/** "sagittal 8 / 15" (and " · axial 3 / 5" for a second viewer beside it), and the series buttons marked: for
 * the page's onSlice. */
export function showSlicePosition(viewer, sliceLabel, seriesButtons, beside = null) {
  const where = (shown) => `${shown.currentSeries.plane} ${shown.sliceIndex + 1} / ${shown.currentSeries.instances.length}`;
  sliceLabel.textContent = where(viewer) + (beside && beside.hasImage ? ` · ${where(beside)}` : "");
  seriesButtons.querySelectorAll("button").forEach((button, i) => button.classList.toggle("active", i === viewer.seriesIndex));
}
