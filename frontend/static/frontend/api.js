/* The JSON client of the pages: same-origin cookies, Django's CSRF header, and every failure (an error body, a
 * non-JSON answer, no answer at all) thrown as an ApiError whose message is words for the status line. */

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;  // 0 when the server could not be reached
  }
}

function csrfToken() {
  const match = document.cookie.match(/csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// DRF answers {"detail": "..."} or field errors ({"findings": [{"value": ["..."]}], "non_field_errors": [...]}).
function errorWords(data, prefix = "") {
  if (typeof data === "string") return prefix + data;
  if (Array.isArray(data)) return data.map((part) => errorWords(part, prefix)).filter(Boolean).join("; ");
  if (data && typeof data === "object") {
    if (typeof data.detail === "string") return prefix + data.detail;
    return Object.entries(data).map(([key, part]) =>
      errorWords(part, key === "non_field_errors" || /^\d+$/.test(key) ? prefix : `${prefix}${key}: `))
      .filter(Boolean).join("; ");
  }
  return "";
}

/** Sends `body` as JSON and resolves to the decoded answer; rejects with an ApiError. */
export async function request(method, url, body, options = {}) {
  let response;
  try {
    response = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: body === undefined ? undefined : JSON.stringify(body),
      ...options,
    });
  } catch (error) {
    throw new ApiError(`the server could not be reached (${error.message})`, 0);
  }
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  if (!response.ok) {
    const words = (data && errorWords(data)) || `${response.status} ${response.statusText}`.trim();
    throw new ApiError(words, response.status);
  }
  if (data === null) throw new ApiError(`the server's answer was not JSON (${response.status})`, response.status);
  return data;
}

/** Sends raw bytes (a Blob: one chunk of an upload) with extra headers; answers and fails as `request` does. */
export function sendBytes(method, url, blob, headers = {}) {
  return request(method, url, undefined, {
    body: blob,
    headers: {"Content-Type": "application/octet-stream", "X-CSRFToken": csrfToken(), ...headers},
  });
}
