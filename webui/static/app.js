/* Whistle: the little JavaScript the pages use. Everything works without it; it only hides fields that do not
   apply (a form's visible_when) and refreshes an open inbox when new work arrives. */
(function () {
  "use strict";

  // -- conditional fields (the same conditions engine/forms.py evaluates on the server) --------------------
  function text(v) { return v === true ? "true" : v === false ? "false" : v == null ? "" : String(v); }
  function filled(v) { return !(v == null || v === "" || v === false || (Array.isArray(v) && v.length === 0)); }

  function formValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "file") return;
      if (el.type === "radio") { if (el.checked) out[el.name] = el.value; else if (!(el.name in out)) out[el.name] = null; return; }
      if (el.type === "checkbox") {
        var group = form.querySelectorAll('input[type=checkbox][name="' + el.name + '"]');
        if (group.length === 1 && el.value === "true") { out[el.name] = el.checked; return; }
        out[el.name] = out[el.name] || [];
        if (el.checked) out[el.name].push(el.value);
        return;
      }
      if (el.multiple) { out[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; }).map(function (o) { return o.value; }); return; }
      out[el.name] = el.value;
    });
    return out;
  }

  function holds(c, values, context) {
    if (!c) return true;
    if (c.all) return c.all.every(function (x) { return holds(x, values, context); });
    if (c.any) return c.any.some(function (x) { return holds(x, values, context); });
    if (c.not) return !holds(c.not, values, context);
    var v = "data" in c ? (context || {})[c.data] : values[c.field];
    if ("equals" in c) return Array.isArray(v) ? v.map(text).indexOf(text(c.equals)) >= 0 : text(v) === text(c.equals);
    if ("not_equals" in c) return text(v) !== text(c.not_equals);
    if ("in" in c) return c["in"].map(text).indexOf(text(v)) >= 0;
    if ("not_in" in c) return c.not_in.map(text).indexOf(text(v)) < 0;
    if ("filled" in c) return filled(v) === !!c.filled;
    var ops = { gt: function (a, b) { return a > b; }, gte: function (a, b) { return a >= b; },
                lt: function (a, b) { return a < b; }, lte: function (a, b) { return a <= b; } };
    for (var op in ops) {
      if (op in c) { if (v == null || v === "") return false; var n = Number(v); return !isNaN(n) && ops[op](n, c[op]); }
    }
    return false;
  }

  function applyConditions(form) {
    var context = {};
    try { context = JSON.parse(form.dataset.context || "{}"); } catch (e) { context = {}; }
    var values = formValues(form);
    form.querySelectorAll("[data-visible-when]").forEach(function (wrap) {
      var condition;
      try { condition = JSON.parse(wrap.dataset.visibleWhen); } catch (e) { return; }
      var show = holds(condition, values, context);
      wrap.hidden = !show;
      wrap.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
    });
  }

  document.querySelectorAll("form.task-form").forEach(function (form) {
    applyConditions(form);
    form.addEventListener("change", function () { applyConditions(form); });
    form.addEventListener("input", function () { applyConditions(form); });
    var firstError = form.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError) firstError.focus();
  });

  // -- live inbox: ask for a small fingerprint every few seconds; reload the list when it changes ----------
  var body = document.getElementById("inbox-body");
  if (body && window.fetch) {
    var digest = body.dataset.digest;
    var every = Math.max(2, Number(body.dataset.pollSeconds) || 10) * 1000;
    var live = document.getElementById("live");
    var tick = function () {
      if (document.hidden) { setTimeout(tick, every); return; }
      fetch(body.dataset.pollUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j || j.digest === digest) return null;
          var url = new URL(window.location.href);
          url.searchParams.set("partial", "1");
          return fetch(url.toString(), { credentials: "same-origin" }).then(function (r) {
            if (!r.ok) return;
            return r.text().then(function (html) {
              body.innerHTML = html;
              digest = j.digest;
              body.dataset.digest = digest;
              if (live) live.textContent = body.dataset.liveText;
            });
          });
        })
        .catch(function () { /* offline for a moment: try again later */ })
        .then(function () { setTimeout(tick, every); });
    };
    setTimeout(tick, every);
  }
})();
