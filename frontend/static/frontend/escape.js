/* The one way a value reaches HTML. Labels, levels and values come from a coordinator's schema and from other
 * people's reads, so every interpolation is escaped unless it is itself a fragment built here; `setHtml` is the
 * only place the pages assign innerHTML. */

const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};

class SafeHtml {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (character) => ENTITIES[character]);
}

function render(value) {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(value);
}

/** Tagged template: `html\`<td>${label}</td>\`` escapes `label`; nested `html` fragments and arrays of them
 * are kept as they are; null, undefined and false render as nothing. */
export function html(strings, ...values) {
  let text = strings[0];
  values.forEach((value, i) => { text += render(value) + strings[i + 1]; });
  return new SafeHtml(text);
}

/** Replaces the element's content with a fragment (a plain string is shown as text). */
export function setHtml(element, fragment) {
  element.innerHTML = render(fragment);
}
