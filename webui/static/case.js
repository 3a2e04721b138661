/* The case diagram: bpmn-js's NavigatedViewer (from npm, served locally) draws the deployed BPMN and colours each
   element by its state in this case: done, active (open tasks), waiting on a timer (with its due time), incident.
   It fits the box on load and whenever the box changes size; the buttons zoom in and out, fit and reset; a mouse
   drags and wheels (the viewer's own), a finger drags sideways and two fingers pinch (below) — a vertical swipe
   still scrolls the page (touch-action: pan-y). */
(function () {
  "use strict";
  var el = document.getElementById("diagram");
  if (!el || !window.BpmnJS || !window.fetch) return;
  var MIN = 0.2, MAX = 4, STEP = 1.25;

  function overlay(text, kind) {
    var div = document.createElement("div");
    div.className = "ov ov-" + kind;
    div.textContent = text;
    return div;
  }

  function clamp(scale) { return Math.max(MIN, Math.min(MAX, scale)); }

  function controls(canvas) {
    var tools = document.querySelector(".diagram-tools");
    var fitted = true;  // until someone zooms or pans, a resize fits again
    function fit() { canvas.zoom("fit-viewport", "auto"); fitted = true; }
    function reset() {
      var box = canvas.viewbox();
      canvas.zoom(1);
      box = canvas.viewbox();
      canvas.viewbox({ x: box.inner.x - 20, y: box.inner.y - 20, width: box.width, height: box.height });
      fitted = false;
    }
    var actions = {
      "zoom-in": function () { canvas.zoom(clamp(canvas.zoom() * STEP), "auto"); fitted = false; },
      "zoom-out": function () { canvas.zoom(clamp(canvas.zoom() / STEP), "auto"); fitted = false; },
      "fit": fit,
      "reset": reset
    };
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (event) {
        var button = event.target.closest("[data-zoom]");
        if (button && actions[button.dataset.zoom]) actions[button.dataset.zoom]();
      });
    }
    // the box changes size (a phone turned, a window resized): tell the canvas, and fit again unless zoomed
    var pending = false;
    function resized() {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        canvas.resized();
        if (fitted) fit();
      });
    }
    if (window.ResizeObserver) new window.ResizeObserver(resized).observe(el);
    else window.addEventListener("resize", resized);
    el.addEventListener("wheel", function () { fitted = false; }, { passive: true });
    touch(canvas, function () { fitted = false; });
    fit();
  }

  // Touch: one finger pans, two fingers pinch-zoom around their midpoint (pointer events; the viewer's own
  // navigation is for a mouse).
  function touch(canvas, moved) {
    var points = {}, last = null;
    function list() { return Object.keys(points).map(function (k) { return points[k]; }); }
    function state() {
      var p = list(), rect = el.getBoundingClientRect();
      if (p.length === 1) return { x: p[0].x, y: p[0].y, d: 0 };
      var cx = (p[0].x + p[1].x) / 2, cy = (p[0].y + p[1].y) / 2;
      return { x: cx, y: cy, d: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y), rx: cx - rect.left, ry: cy - rect.top };
    }
    el.addEventListener("pointerdown", function (e) {
      if (e.pointerType !== "touch") return;
      points[e.pointerId] = { x: e.clientX, y: e.clientY };
      last = state();
    });
    el.addEventListener("pointermove", function (e) {
      if (e.pointerType !== "touch" || !points[e.pointerId]) return;
      points[e.pointerId] = { x: e.clientX, y: e.clientY };
      var now = state();
      if (last && list().length >= 2 && last.d > 0) {
        var scale = clamp(canvas.zoom() * now.d / last.d);
        canvas.zoom(scale, { x: now.rx, y: now.ry });
      }
      if (last) canvas.scroll({ dx: now.x - last.x, dy: now.y - last.y });
      last = now;
      moved();
      e.preventDefault();
    });
    function up(e) {
      delete points[e.pointerId];
      last = list().length ? state() : null;
    }
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
  }

  fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (d) {
      var viewer = new window.BpmnJS({ container: el });
      return viewer.importXML(d.xml).then(function () {
        var canvas = viewer.get("canvas");
        var overlays = viewer.get("overlays");
        var registry = viewer.get("elementRegistry");
        controls(canvas);
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
