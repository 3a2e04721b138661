/* What the designers' two page scripts share (main.js: the BPMN modeler; editor.js: the form and decision
   editors): the page's texts with {placeholders}, its elements by id, and JSON sent to the server with the
   session's CSRF token (keepalive when the tab is closing, so a last draft still arrives). */

export const AUTOSAVE_MS = 3000;

export function fill(text, values) {
  return text.replace(/{([^}]+)}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

export function $(id) {
  return document.getElementById(id);
}

export function send(url, body, csrf, keepalive) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    keepalive: Boolean(keepalive),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

/* The server's answer as an object; an Error with its message when it refused. */
export async function post(url, body, csrf, keepalive) {
  const response = await send(url, body, csrf, keepalive);
  let answer = {};
  try {
    answer = await response.json();
  } catch (error) {
    answer = { message: response.statusText };
  }
  if (!response.ok) throw new Error(answer.message || response.statusText);
  return answer;
}
