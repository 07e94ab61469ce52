// The console's only script (CSP: no inline script). HTMX requests carry the CSRF token;
// on a review screen the digits 1-5 press the decision buttons (keyboard use without a mouse).
document.addEventListener("htmx:configRequest", function (event) {
  var field = document.querySelector("input[name=csrf_token]");
  if (field) { event.detail.headers["X-CSRF-Token"] = field.value; }
});
document.addEventListener("keydown", function (event) {
  var target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) { return; }
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
  var button = document.querySelector("button[data-key='" + event.key + "']");
  if (button) { event.preventDefault(); button.click(); }
});
