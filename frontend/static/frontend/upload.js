/* The DICOM upload page: files, folders (walked through the drop's entries) and zips go up one after another, each
 * in chunks at the offset the server holds; a failed chunk is retried with a growing pause after asking the
 * server how far it got, so a dropped connection costs one chunk, not the study. The endpoints, the chunk size
 * and the number of retries come from the page payload. */
import {ApiError, request, sendBytes} from "./api.js";
import {droppedFiles} from "./dropped_files.js";
import {html, setHtml} from "./escape.js";
import {statusLine} from "./status.js";

const page = JSON.parse(document.getElementById("page-data").textContent);
const show = statusLine(document.getElementById("status"));
const dropZone = document.getElementById("drop-zone");
const fileInput = document.getElementById("file-input");
const resultsBody = document.querySelector("#results tbody");
const BACKOFF_MS = 400;
const POLL_MS = 2000;
const MAX_POLLS = 300;  // ten minutes
// Worth another try: no answer at all, an offset that moved (409), or a server or proxy that failed.
const RETRYABLE = new Set([0, 409, 500, 502, 503, 504]);
const RESULT_WORDS = {stored: "Stored", duplicate: "Duplicate (already held)", refused: "Refused"};

let busy = false;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

// Progress and results ---------------------------------------------------------------------------------------------

function progressOf(items) {
  const sent = new Map(items.map((item) => [item, 0]));
  const totalBytes = items.reduce((sum, item) => sum + item.file.size, 0);
  let filesDone = 0;
  const bytesBar = document.getElementById("bytes-bar");
  const filesBar = document.getElementById("files-bar");
  function draw() {
    const bytes = [...sent.values()].reduce((sum, value) => sum + value, 0);
    const percent = totalBytes ? Math.round((100 * bytes) / totalBytes) : 100;
    bytesBar.max = Math.max(totalBytes, 1);
    bytesBar.value = bytes;
    document.getElementById("bytes-text").textContent =
      `${megabytes(bytes)} of ${megabytes(totalBytes)} sent (${percent}%)`;
    filesBar.max = Math.max(items.length, 1);
    filesBar.value = filesDone;
    document.getElementById("files-text").textContent = `${filesDone} of ${items.length} file(s) done`;
  }
  document.getElementById("progress-section").hidden = false;
  draw();
  return {
    sent(item, bytes) { sent.set(item, bytes); draw(); },
    fileDone(item) { sent.set(item, item.file.size); filesDone += 1; draw(); },
  };
}

function addResults(entries) {
  document.getElementById("results").hidden = false;
  const rows = entries.map((entry) => html`<tr class="result-${entry.result}">
    <td>${entry.file}</td><td>${RESULT_WORDS[entry.result] || entry.result}</td><td>${entry.reason}</td>
    <td>${entry.case_id ? html`<a href="${page.endpoints.cases}#cases">Case ${entry.case_id}</a>` : ""}</td></tr>`);
  const holder = document.createElement("tbody");
  setHtml(holder, html`${rows}`);
  resultsBody.append(...holder.children);
}

// Sending ------------------------------------------------------------------------------------------------------------

/** Sends one file chunk by chunk and resolves to the finished upload (its per-file results). */
async function sendFile(item, progress) {
  const size = item.file.size;
  let upload = await request("POST", page.endpoints.start, {filename: item.name, size});
  const url = upload.url;
  let failures = 0;
  let polls = 0;
  while (upload.status === "receiving") {
    if (upload.received === size) {
      // Every byte is in but the answer to the last chunk was lost: the server is still checking and storing.
      if (++polls > MAX_POLLS) throw new ApiError("the server has every byte but has not finished checking them", 0);
      show(`${item.name}: all sent; the server is checking and storing the images…`);
      await sleep(POLL_MS);
      upload = await request("GET", url);
      continue;
    }
    const start = upload.received;
    const end = Math.min(start + page.chunk_bytes, size);
    if (end === size) show(`Checking and storing ${item.name}…`);
    try {
      upload = await sendBytes("PUT", url, item.file.slice(start, end),
                               {"Content-Range": `bytes ${start}-${end - 1}/${size}`});
      failures = 0;
    } catch (error) {
      failures += 1;
      if (!(error instanceof ApiError) || !RETRYABLE.has(error.status) || failures > page.retries) throw error;
      show(`${item.name}: ${error.message}; asking where the upload stands and retrying `
           + `(${failures} of ${page.retries})…`);
      await sleep(BACKOFF_MS * 2 ** (failures - 1));
      try {
        upload = await request("GET", url);  // the offset the server holds: resume from there
      } catch (lookupError) {
        show(`${item.name}: ${lookupError.message}; retrying…`);
      }
    }
    progress.sent(item, upload.received);
  }
  return upload;
}

async function sendAll(items) {
  if (busy) { show("An upload is still running; wait for it to finish.", "error"); return; }
  if (!items.length) { show("Nothing to upload: the drop held no files.", "error"); return; }
  busy = true;
  document.body.dataset.uploading = "1";
  const progress = progressOf(items);
  const counts = {stored: 0, duplicate: 0, refused: 0};
  for (const item of items) {
    let entries;
    try {
      const upload = await sendFile(item, progress);
      entries = upload.results;
    } catch (error) {
      entries = [{file: item.name, result: "refused", reason: `not uploaded: ${error.message}`, case_id: null}];
    }
    entries.forEach((entry) => { counts[entry.result] = (counts[entry.result] || 0) + 1; });
    addResults(entries);
    progress.fileDone(item);
  }
  const words = `${counts.stored} image(s) stored, ${counts.duplicate} duplicate, ${counts.refused} refused`;
  document.getElementById("summary").textContent = words;
  show(`Upload finished: ${words}${counts.refused ? " (the reasons are in the table)" : ""}.`,
       counts.stored || counts.duplicate ? "ok" : "error");
  busy = false;
  delete document.body.dataset.uploading;
  document.body.dataset.uploaded = String(Number(document.body.dataset.uploaded || 0) + 1);
}

// Wiring -------------------------------------------------------------------------------------------------------------

dropZone.addEventListener("dragover", (event) => { event.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  droppedFiles(event.dataTransfer).then(
    sendAll, (error) => show(`The dropped files could not be read: ${error.message}`, "error"));
});
fileInput.addEventListener("change", () => {
  const items = [...fileInput.files].map((file) => ({file, name: file.name}));
  fileInput.value = "";
  sendAll(items);
});
show(`Ready. Files go up in chunks of ${megabytes(page.chunk_bytes)}.`);
