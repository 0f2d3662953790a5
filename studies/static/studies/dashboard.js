// Choosing a disc level shows its rows (a plain GET form; no inline handler, for the Content-Security-Policy).
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
