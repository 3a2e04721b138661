/* The version diff page: the two versions' diagrams side by side in bpmn-js's NavigatedViewer (from npm, served
   locally), the older with its removed elements red, the newer with its added elements green, and on both the
   changed elements (and rerouted flows) orange. The ids come from the page (#diff-data, the server's diff). */
(function () {
  "use strict";
  var data = document.getElementById("diff-data");
  if (!data || !window.BpmnJS) return;
  var sides = JSON.parse(data.textContent);

  function draw(side) {
    var el = document.getElementById("diagram-" + side);
    var shown = sides[side];
    if (!el || !shown) return;
    var viewer = new window.BpmnJS({ container: el });
    viewer.importXML(shown.xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      Object.keys(shown.marks).forEach(function (kind) {
        shown.marks[kind].forEach(function (id) {
          if (registry.get(id)) canvas.addMarker(id, "diff-" + kind);
        });
      });
      canvas.zoom("fit-viewport", "auto");
      el.dataset.ready = "true";
      if (window.ResizeObserver) {
        new window.ResizeObserver(function () { canvas.resized(); canvas.zoom("fit-viewport", "auto"); }).observe(el);
      }
    }).catch(function () {
      el.dataset.ready = "failed";
    });
  }

  draw("old");
  draw("new");
})();
