/* The levels x findings form, built from the schema of the page payload; the state is the truth and `syncForm`
 * shows it. */
import {html, setHtml} from "./escape.js";
import {valueOf} from "./read_state.js";

function gradingRow(schema, level) {
  const cells = schema.findings.map((finding) => html`<td><select data-level="${level}" data-finding="${finding.name}" aria-label="${level} ${finding.label}">
      <option value="">–</option>${finding.values.map((value) => html`<option value="${value}">${value}</option>`)}</select></td>`);
  return html`<tr data-level="${level}"><th><button type="button" class="level" data-level="${level}">${level}</button></th>${cells}</tr>`;
}

/** Builds the grading table and the finding choice for new boxes. onValue(level, finding, value) runs on a
 * change, onLevel(level) on a click on a level. */
export function buildReadingForm({table, boxFinding, schema, onValue, onLevel}) {
  const head = html`<tr><th>Level</th>${schema.findings.map((finding) => html`<th>${finding.label}</th>`)}</tr>`;
  setHtml(table, html`<thead>${head}</thead><tbody>${schema.levels.map((level) => gradingRow(schema, level))}</tbody>`);
  setHtml(boxFinding, schema.findings.map((finding) => html`<option value="${finding.name}">${finding.label}</option>`));
  table.addEventListener("change", (event) => {
    const {level, finding} = event.target.dataset;
    if (finding) onValue(level, finding, event.target.value);
  });
  table.addEventListener("click", (event) => {
    if (event.target.tagName === "BUTTON" && event.target.dataset.level) onLevel(event.target.dataset.level);
  });
}

/** Shows the state's values and current level in the form. */
export function syncForm(table, state) {
  table.querySelectorAll("select[data-finding]").forEach((select) => {
    const value = valueOf(state, select.dataset.level, select.dataset.finding);
    if (select.value !== value) select.value = value;
  });
  table.querySelectorAll("tr[data-level]").forEach((row) => row.classList.toggle("current", row.dataset.level === state.level));
  // The keyboard's cell: the current level's current finding.
  table.querySelectorAll("td").forEach((cell) => {
    const select = cell.querySelector("select");
    cell.classList.toggle("current-cell", Boolean(select) && select.dataset.level === state.level
                          && select.dataset.finding === state.finding);
  });
}
