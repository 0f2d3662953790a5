/* The page's status line (role="status"): what just happened, or what went wrong, in words. */

/** Returns show(text, kind) for the element; kind is "ok", "error" or nothing. */
export function statusLine(element) {
  return (text, kind = "") => {
    element.textContent = text;
    element.className = `status ${kind}`.trim();
  };
}
