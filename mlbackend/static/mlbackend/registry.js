/* The forms post to the JSON API; reload to show the result, after saying its error if there is one. */
import {request} from "../frontend/api.js";

document.querySelectorAll("#train-form, .serve-form").forEach((form) => form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await request("POST", form.action);
  } catch (error) {
    alert(error.message);
  }
  location.reload();
}));
