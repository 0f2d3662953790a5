/* The reading page's keyboard map. The grade keys belong to the schema's anchor finding (the one every disc
 * has): key 1 gives its first value, key 2 its second, and so on. */

const TYPING = new Set(["SELECT", "INPUT", "TEXTAREA"]);

/** {key: value} of the anchor finding's first nine values; empty when the schema has no anchor. */
export function gradeKeys(schema) {
  const anchor = schema.findings.find((finding) => finding.name === schema.anchor);
  if (!anchor) return {};
  return Object.fromEntries(anchor.values.slice(0, 9).map((value, i) => [String(i + 1), value]));
}

/** "1–5: " and the anchor finding's label, for the hint line; "" when there are no grade keys. */
export function gradeKeysHint(schema) {
  const keys = Object.keys(gradeKeys(schema));
  if (!keys.length) return "";
  const label = schema.findings.find((finding) => finding.name === schema.anchor).label;
  return `${keys[0]}–${keys[keys.length - 1]}: ${label}`;
}

/** Binds the keys; `actions` are the page's: grade(value), stepLevel(step), toggleBox(), exitBox(), submit(). */
export function bindHotkeys({schema, viewer, actions}) {
  const grades = gradeKeys(schema);
  document.addEventListener("keydown", (event) => {
    if (TYPING.has(event.target.tagName)) return;
    const key = event.key;
    if (key === "ArrowDown" || key === "PageDown") { viewer.scroll(1); event.preventDefault(); }
    else if (key === "ArrowUp" || key === "PageUp") { viewer.scroll(-1); event.preventDefault(); }
    else if (Object.hasOwn(grades, key)) actions.grade(grades[key]);
    else if (key === "n" || key === "N") actions.stepLevel(event.shiftKey ? -1 : 1);
    else if (key === "b" || key === "B") actions.toggleBox();
    else if (key === "Escape") actions.exitBox();
    else if (key === "r" || key === "R") viewer.reset();
    else if (key === "Enter" && (event.ctrlKey || event.metaKey)) actions.submit();
  });
}
