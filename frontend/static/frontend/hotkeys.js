/* The reading page's keyboard map: a whole read without the mouse. The keys are generic (the n-th value of the
 * current finding, the next level), so any schema works; the legend on the page (case_read.html) lists them.
 *
 *   j / k            next / previous level          ← / → (h / l)   previous / next finding
 *                    (read.js moves the axial to the new level where its boxes place it)
 *   1 … 9            the n-th value of the current finding at the current level
 *   y / n            accept / reject the model's finding at the current level and finding
 *   Shift+A          accept all the model's findings
 *   Enter            submit (when no button, link or field has the focus); Ctrl+Enter submits from anywhere
 *   ↑ / ↓, wheel     sagittal slices                 PageUp / PageDown   axial slices
 *   s  save draft · b  draw a box · Esc  leave box mode · r  reset the view · ?  show / hide the legend */

const TYPING = new Set(["SELECT", "INPUT", "TEXTAREA"]);
const ACTIVATES = new Set(["BUTTON", "A", "SUMMARY"]);  // Enter already means "press this" there

function letterAction(key, actions) {
  const map = {j: () => actions.stepLevel(1), k: () => actions.stepLevel(-1),
               h: () => actions.stepFinding(-1), l: () => actions.stepFinding(1),
               y: actions.acceptCurrent, n: actions.rejectCurrent, A: actions.acceptAll,
               s: actions.saveDraft, b: actions.toggleBox, B: actions.toggleBox, r: actions.reset, R: actions.reset,
               "?": actions.toggleLegend};
  return map[key];
}

/** Binds the keys. `actions`: stepLevel(step), stepFinding(step), value(n), acceptCurrent(), rejectCurrent(),
 * acceptAll(), saveDraft(), submit(), toggleBox(), exitBox(), reset(), toggleLegend(), scroll(step),
 * scrollAxial(step). */
export function bindHotkeys({actions}) {
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); actions.submit(); return; }
    if (TYPING.has(target.tagName) || event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key;
    const arrows = {ArrowDown: () => actions.scroll(1), ArrowUp: () => actions.scroll(-1),
                    PageDown: () => actions.scrollAxial(1), PageUp: () => actions.scrollAxial(-1),
                    ArrowLeft: () => actions.stepFinding(-1), ArrowRight: () => actions.stepFinding(1)};
    let action = arrows[key] || letterAction(key, actions);
    if (/^[1-9]$/.test(key)) action = () => actions.value(Number(key));
    else if (key === "Escape") action = actions.exitBox;
    else if (key === "Enter" && !ACTIVATES.has(target.tagName)) action = actions.submit;
    if (!action) return;
    event.preventDefault();
    action();
  });
}
