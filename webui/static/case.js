/* The case diagram: bpmn-js (from npm, served locally) draws the deployed BPMN and colours each element by
   its state in this case: done, active (open tasks), waiting on a timer (with its due time), incident. */
(function () {
  "use strict";
  var el = document.getElementById("diagram");
  if (!el || !window.BpmnJS || !window.fetch) return;

  function overlay(text, kind) {
    var div = document.createElement("div");
    div.className = "ov ov-" + kind;
    div.textContent = text;
    return div;
  }

  fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (d) {
      var viewer = new window.BpmnJS({ container: el });
      return viewer.importXML(d.xml).then(function () {
        var canvas = viewer.get("canvas");
        var overlays = viewer.get("overlays");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        Object.keys(d.states).forEach(function (id) {
          var s = d.states[id];
          if (!registry.get(id)) return;
          canvas.addMarker(id, "st-" + s.state);
          if (s.state === "timer" && s.due_text) {
            overlays.add(id, { position: { bottom: 8, left: -20 }, html: overlay((d.legend.due || "") + " " + s.due_text, "timer") });
          }
          if (s.state === "active" && s.active > 1) {
            overlays.add(id, { position: { top: -10, right: 10 }, html: overlay("×" + s.active, "count") });
          }
          if (s.state === "incident") {
            overlays.add(id, { position: { top: -10, left: -10 }, html: overlay("!", "incident") });
          }
        });
        el.dataset.ready = "true";
        el.dataset.states = Object.keys(d.states).map(function (id) { return id + ":" + d.states[id].state; }).join(" ");
      });
    })
    .catch(function (e) {
      el.dataset.ready = "error";
      el.textContent = String(e && e.message || e);
    });
})();
