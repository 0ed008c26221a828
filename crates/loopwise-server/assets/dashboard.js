// Progressive enhancement only: every page works without this script.
// A changed filter applies itself (the Apply button stays for keyboards and no-script use).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.querySelectorAll("select").forEach(function (select) {
    select.addEventListener("change", function () { form.requestSubmit(); });
  });
});
