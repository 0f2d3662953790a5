/* Time on task: counted while the tab is visible and the reader has done something in the last minute, in real
 * elapsed time up to the moment of each save (a whole-second tick lost the part since the last tick). */

const IDLE_AFTER_MS = 60000;
const TICK_MS = 500;
const INPUT_EVENTS = ["mousemove", "keydown", "wheel", "mousedown"];

/** Starts counting and shows the seconds in `display`. Returns {count, seconds, set, stop}: call count()
 * right before reading seconds() for a save. */
export function startTimer(display) {
  const clock = {active: 0, lastInput: Date.now(), lastTick: performance.now(), stopped: false};

  function count() {
    const now = performance.now();
    if (!clock.stopped && document.visibilityState === "visible" && Date.now() - clock.lastInput < IDLE_AFTER_MS) {
      clock.active += (now - clock.lastTick) / 1000;
      display.textContent = `${Math.round(clock.active)} s`;
    }
    clock.lastTick = now;
  }

  setInterval(count, TICK_MS);
  // A hidden tab's timers are throttled: never let the time it spent hidden into the next tick.
  document.addEventListener("visibilitychange", () => { clock.lastTick = performance.now(); });
  INPUT_EVENTS.forEach((name) =>
    window.addEventListener(name, () => { clock.lastInput = Date.now(); }, {passive: true}));

  return {
    count,
    seconds: () => clock.active,
    set: (seconds) => { clock.active = seconds; },
    stop: () => { clock.stopped = true; },
  };
}
