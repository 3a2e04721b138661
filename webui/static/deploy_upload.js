/* The 上传部署 report's diagrams: bpmn-js's NavigatedViewer (from npm, served locally) draws each uploaded BPMN
   file and marks the elements the server's checks found wanting — outlined red for an error, orange for a
   warning, with a badge counting them (its title lists the messages). A problem in the list above scrolls to its
   diagram and centres the element. The viewer's own mouse navigation pans and zooms. */
(function () {
  "use strict";
  if (!window.BpmnJS || !window.fetch) return;
  var viewers = {};  // diagram element id -> { canvas, registry }

  function badge(list, labels) {
    var errors = list.filter(function (p) { return p.severity === "error"; }).length;
    var div = document.createElement("div");
    div.className = "lint-badge " + (errors ? "lint-badge-error" : "lint-badge-warning");
    div.textContent = (errors ? "✕" : "!") + (list.length > 1 ? " " + list.length : "");
    div.title = list.map(function (p) {
      return (labels[p.severity] || p.severity) + (p.line ? " · " + labels.line.replace("{line}", p.line) : "") + ": " + p.text;
    }).join("\n");
    return div;
  }

  function draw(el) {
    return fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        var viewer = new window.BpmnJS({ container: el });
        return viewer.importXML(d.xml).then(function () {
          var canvas = viewer.get("canvas"), overlays = viewer.get("overlays"), registry = viewer.get("elementRegistry");
          canvas.zoom("fit-viewport", "auto");
          var root = canvas.getRootElement();
          var byElement = {};
          d.problems.forEach(function (p) {
            (byElement[p.element_id] = byElement[p.element_id] || []).push(p);
          });
          var marked = [];
          Object.keys(byElement).forEach(function (id) {
            var shape = registry.get(id);
            if (!shape || shape === root) return;  // the process itself: listed above, not a shape
            var list = byElement[id];
            var error = list.some(function (p) { return p.severity === "error"; });
            canvas.addMarker(id, error ? "lint-error" : "lint-warning");
            overlays.add(id, { position: { top: -12, right: 12 }, html: badge(list, d.labels) });
            marked.push(id + ":" + (error ? "error" : "warning"));
          });
          viewers[el.id] = { canvas: canvas, registry: registry, file: el.dataset.file };
          el.dataset.marked = marked.join(" ");
          el.dataset.ready = "true";
        });
      })
      .catch(function (e) {
        el.dataset.ready = "error";
        el.textContent = String(e && e.message || e);
      });
  }

  document.querySelectorAll(".upload-diagram[data-src]").forEach(draw);

  // A problem clicked: its diagram scrolls into view with the element in the middle.
  var list = document.getElementById("problems");
  if (list) {
    list.addEventListener("click", function (event) {
      var item = event.target.closest("[data-element]");
      if (!item || !item.dataset.element) return;
      Object.keys(viewers).forEach(function (key) {
        var v = viewers[key], shape = v.registry.get(item.dataset.element);
        if (!shape || v.file !== item.dataset.file || !shape.width) return;
        var box = v.canvas.viewbox();
        v.canvas.viewbox({ x: shape.x + shape.width / 2 - box.width / 2, y: shape.y + shape.height / 2 - box.height / 2,
                           width: box.width, height: box.height });
        document.getElementById(key).scrollIntoView({ behavior: "smooth", block: "center" });
      });
    });
  }
})();
