// sopflow console: small progressive enhancements; every page works without this file.
// A filter form (method GET, data-drop-empty) leaves its empty inputs out of the address,
// so a filtered list's URL names only the filters in use.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute || !form.hasAttribute("data-drop-empty")) return;
  Array.prototype.forEach.call(form.elements, function (input) {
    if (input.name && input.value === "" && !input.disabled) input.disabled = true;
  });
  // Re-enable them if the person comes back to this page (back/forward cache).
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(form.elements, function (input) { input.disabled = false; });
  }, { once: true });
});
