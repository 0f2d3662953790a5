/* The senior's table of disputed items: what each reader gave, and one decision each (reader A, reader B, or
 * the senior's own value or box). `own` maps an item id to the box the senior drew for it. */
import {html, setHtml} from "./escape.js";

export const formatBox = (box) => box ? `box [${box.map((v) => Math.round(v)).join(", ")}]` : "no box";

function describe(item, side) {
  const value = item[`value_${side}`];
  if (item.kind === "value") return value == null ? html`<em>not given</em>` : html`<strong>${value}</strong>`;
  return `${value || ""} ${formatBox(item[`box_${side}`])}`;
}

function ownControl(item, finding, own) {
  if (item.kind === "value") {
    return html`<select data-own-value="${item.id}" aria-label="own value">${finding.values.map((value) => html`<option value="${value}">${value}</option>`)}</select>`;
  }
  return html`<button type="button" data-draw="${item.id}">Draw</button> <span data-own-box="${item.id}" class="muted">${formatBox(own[item.id])}</span>`;
}

function itemRow(item, finding, own, selected) {
  return html`<tr data-item="${item.id}" class="${selected === item.id ? "current" : ""}">
    <td><button type="button" class="link" data-show="${item.id}">${item.disc_level} ${finding ? finding.label : item.finding_type}</button>
        <small class="muted">${item.kind}</small></td>
    <td>${describe(item, "a")}</td><td>${describe(item, "b")}</td>
    <td><label><input type="radio" name="choice-${item.id}" value="reader_a"> A</label>
        <label><input type="radio" name="choice-${item.id}" value="reader_b"> B</label>
        <label><input type="radio" name="choice-${item.id}" value="senior"> Own</label> ${ownControl(item, finding, own)}</td>
    <td><input type="text" data-reason="${item.id}" placeholder="optional" aria-label="reason"></td></tr>`;
}

export function renderItems(tbody, {items, schema, own, selected}) {
  const findings = Object.fromEntries(schema.findings.map((finding) => [finding.name, finding]));
  setHtml(tbody, items.map((item) => itemRow(item, findings[item.finding_type], own, selected)));
}

/** The decisions of the resolve body; throws an Error naming the first undecided item. */
export function collectDecisions(tbody, items, own) {
  return items.map((item) => {
    const choice = tbody.querySelector(`input[name="choice-${item.id}"]:checked`);
    if (!choice) throw new Error(`Decide ${item.disc_level} ${item.finding_type} first.`);
    const decision = {item: item.id, choice: choice.value, reason: tbody.querySelector(`[data-reason="${item.id}"]`).value};
    if (choice.value === "senior") {
      if (item.kind === "value") decision.value = tbody.querySelector(`[data-own-value="${item.id}"]`).value;
      else decision.box = own[item.id] || null;
    }
    return decision;
  });
}

/** Marks the senior's own box of an item as drawn: its choice, and the box in words. */
export function showOwnBox(tbody, item, box) {
  tbody.querySelector(`input[name="choice-${item.id}"][value="senior"]`).checked = true;
  tbody.querySelector(`[data-own-box="${item.id}"]`).textContent = formatBox(box);
}

export function markSelected(tbody, id) {
  tbody.querySelectorAll("tr[data-item]").forEach((row) => row.classList.toggle("current", Number(row.dataset.item) === id));
}

/** Decides an item as `choice` ("reader_a", "reader_b" or "senior"); for "senior" on a value item, `value` (when
 * given) becomes the own value. Returns the decision in words for the status line. */
export function decide(tbody, item, choice, value) {
  tbody.querySelector(`input[name="choice-${item.id}"][value="${choice}"]`).checked = true;
  const own = tbody.querySelector(`[data-own-value="${item.id}"]`);
  if (choice === "senior" && own && value != null) own.value = value;
  const words = {reader_a: "reader A", reader_b: "reader B", senior: "own"}[choice];
  return `${item.disc_level} ${item.finding_type}: ${words}${choice === "senior" && own ? ` (${own.value})` : ""}`;
}
