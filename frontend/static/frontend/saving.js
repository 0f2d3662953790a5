/* Drafts, the submission and a correction of a read, each through the endpoints of the page payload. Every
 * failure is said on the status line; a draft that did not save stays dirty and goes again with the next. */
import {request} from "./api.js";
import {findingsPayload} from "./read_payload.js";

const AUTOSAVE_MS = 10000;

function body(state, timer) {
  timer.count();
  return {findings: findingsPayload(state), active_seconds: timer.seconds()};
}

/** Returns {saveDraft(keepalive), submit(), correct()}; onSubmitted(read) runs once the read is in. */
export function createSaver({state, timer, endpoints, status, onSubmitted}) {
  async function saveDraft(keepalive = false) {
    if (state.submitted || !state.dirty) return;
    state.dirty = false;
    try {
      state.read = {...state.read, ...await request("PUT", endpoints.draft, body(state, timer), {keepalive})};
      status(`Draft saved ${new Date().toLocaleTimeString()}`, "ok");
    } catch (error) {
      state.dirty = true;
      status(`Draft not saved: ${error.message}`, "error");
    }
  }

  async function submit() {
    if (state.submitted) return;
    try {
      state.read = await request("POST", endpoints.submit, body(state, timer));
      state.submitted = true;
      onSubmitted(state.read);
      status(`Submitted (version ${state.read.version}). Thank you.`, "ok");
    } catch (error) {
      status(`Not submitted: ${error.message}`, "error");
    }
  }

  async function correct() {
    try {
      await request("POST", endpoints.correct.replace("{read_id}", state.read.id));
      window.location.reload();  // the page opens the new draft version
    } catch (error) {
      status(`No correction: ${error.message}`, "error");
    }
  }

  return {saveDraft, submit, correct};
}

/** Saves every few seconds, and when the tab is hidden or left (keepalive lets that request outlive the page). */
export function autosave(saver) {
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") saver.saveDraft(true); });
  window.addEventListener("pagehide", () => saver.saveDraft(true));
  setInterval(() => saver.saveDraft(), AUTOSAVE_MS);
}
