/* The senior's adjudication queue by keyboard: j/k or the arrows choose a case, Enter opens it. */
const rows = [...document.querySelectorAll("#queue tbody tr")];
let current = 0;

function choose(index) {
  current = Math.max(0, Math.min(rows.length - 1, index));
  rows.forEach((row, i) => row.classList.toggle("current", i === current));
  rows[current].scrollIntoView({block: "nearest"});
}

document.addEventListener("keydown", (event) => {
  if (!rows.length || event.target.closest("input, select, textarea")) return;
  if (event.key === "j" || event.key === "ArrowDown") { choose(current + 1); event.preventDefault(); }
  else if (event.key === "k" || event.key === "ArrowUp") { choose(current - 1); event.preventDefault(); }
  else if (event.key === "Enter" && event.target.tagName !== "A") rows[current].querySelector("a").click();
});
document.body.dataset.ready = "1";
