// Small progressive enhancements; every page works without this file.
// Ask before destructive buttons (data-confirm="…").
document.addEventListener("click", function (event) {
  var target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
