// The definition view (webui/templates/definition_view.html): the version's diagram (bpmn-js, served from npm)
// with a badge per element — cases waiting, overdue, in incident — each opening those cases (the table's links).
(function () {
  "use strict";
  var el = document.getElementById("definition-diagram");
  if (!el || !window.BpmnJS || !window.fetch) return;
  var links = {};
  document.querySelectorAll("tr[data-element]").forEach(function (row) {
    var found = {};
    row.querySelectorAll("a[data-figure]").forEach(function (a) { found[a.dataset.figure] = a.href; });
    links[row.dataset.element] = found;
  });
  fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (d) {
      var viewer = new window.BpmnJS({ container: el });
      return viewer.importXML(d.xml).then(function () {
        var canvas = viewer.get("canvas"), overlays = viewer.get("overlays");
        canvas.zoom("fit-viewport", "auto");
        Object.keys(d.elements).forEach(function (id) {
          var c = d.elements[id], badge = document.createElement("span");
          badge.className = "element-counts";
          ["waiting", "overdue", "incidents"].forEach(function (k) {
            if (!c[k]) return;
            var a = document.createElement("a");
            a.className = "count count-" + k;
            a.textContent = c[k];
            a.title = d.labels[k] + " " + c[k];
            a.href = (links[id] || {})[k] || "#";
            badge.appendChild(a);
          });
          if (!badge.childNodes.length) return;
          if (c.waiting) canvas.addMarker(id, "st-active");
          if (c.incidents) canvas.addMarker(id, "st-incident");
          try { overlays.add(id, { position: { top: -12, right: 12 }, html: badge }); } catch (e) { /* no shape */ }
        });
      });
    });
})();
