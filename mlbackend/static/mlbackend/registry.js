// The forms post to the JSON API; reload to show the result (or its error).
document.querySelectorAll("#train-form, .serve-form").forEach(form => form.addEventListener("submit", async event => {
  event.preventDefault();
  const response = await fetch(form.action, {method: "POST", headers: {"X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value}});
  if (!response.ok) { alert((await response.json()).detail || response.statusText); }
  location.reload();
}));
