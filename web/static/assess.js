// 清洁生产水平自评: choosing a sector (or a standard) loads its indicator form at once. Without
// JavaScript the form's own submit button does the same. A static file, so a strict CSP allows it.
(function () {
  "use strict";
  var form = document.getElementById("sector-form");
  if (!form) { return; }
  var sector = form.querySelector('select[name="sector"]');
  var spec = form.querySelector('select[name="spec"]');
  if (sector) {
    sector.addEventListener("change", function () {
      if (!sector.value) { return; }
      if (spec) { spec.disabled = true; }   // the standard chosen for the previous sector does not apply
      form.submit();
    });
  }
  if (spec) {
    spec.addEventListener("change", function () { form.submit(); });
  }
}());
