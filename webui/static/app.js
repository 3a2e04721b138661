/* Whistle: the little JavaScript the pages use. Everything works without it; it only hides fields that do not
   apply (a form's visible_when), adds and removes the rows of a repeating list (dynamiclist) in place — without
   it the add/remove buttons post the form and the server shows it again — and refreshes an open inbox when new
   work arrives. */
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

  // prefix: a list row's cell names ("scores[2]"), whose conditions name the columns of the same row
  function holds(c, values, context, prefix) {
    if (!c) return true;
    if (c.all) return c.all.every(function (x) { return holds(x, values, context, prefix); });
    if (c.any) return c.any.some(function (x) { return holds(x, values, context, prefix); });
    if (c.not) return !holds(c.not, values, context, prefix);
    var v = "data" in c ? (context || {})[c.data]
      : prefix && (prefix + "[" + c.field + "]") in values ? values[prefix + "[" + c.field + "]"] : values[c.field];
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
      var row = wrap.closest("[data-prefix]");
      var show = holds(condition, values, context, row ? row.dataset.prefix : null);
      wrap.hidden = !show;
      wrap.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
    });
  }

  // -- repeating rows (dynamiclist): copy the row template, remove a row, keep the row numbers in order ------
  function setupList(list, form) {
    var body = list.querySelector("[data-rows]");
    var template = list.querySelector("template[data-row-template]");
    var add = list.querySelector("[data-row-add]");
    var max = Number(list.dataset.maxRows) || Infinity;
    if (!body || !template) return;
    function rows() { return body.querySelectorAll("tr.list-row"); }
    function renumber() {
      Array.prototype.forEach.call(rows(), function (row, i) {
        var label = row.querySelector(".row-label");
        if (label) label.textContent = list.dataset.rowText.replace("{n}", i + 1);
        var remove = row.querySelector("[data-row-remove]");
        if (remove) remove.setAttribute("aria-label", list.dataset.removeText.replace("{n}", i + 1));
      });
      if (add) add.disabled = rows().length >= max;
    }
    function nextIndex() {
      var next = 0;
      Array.prototype.forEach.call(rows(), function (row) {
        var m = /\[(\d+)\]$/.exec(row.dataset.prefix || "");
        if (m) next = Math.max(next, Number(m[1]) + 1);
      });
      return next;
    }
    if (add) add.addEventListener("click", function (event) {
      event.preventDefault();
      if (rows().length >= max) return;
      var holder = document.createElement("tbody");
      holder.innerHTML = template.innerHTML.replace(/__index__/g, String(nextIndex()));
      var row = holder.querySelector("tr");
      body.appendChild(row);
      renumber();
      applyConditions(form);
      var first = row.querySelector("input, select, textarea");
      if (first) first.focus();
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-row-remove]");
      if (!button || !list.contains(button)) return;
      event.preventDefault();
      var row = button.closest("tr.list-row");
      var focusTo = row.nextElementSibling || row.previousElementSibling;
      row.parentNode.removeChild(row);
      renumber();
      applyConditions(form);
      var target = focusTo ? focusTo.querySelector("input, select, textarea") : add;
      if (target) target.focus();
    });
    renumber();
  }

  document.querySelectorAll("form.task-form").forEach(function (form) {
    form.querySelectorAll("[data-list]").forEach(function (list) { setupList(list, form); });
    applyConditions(form);
    form.addEventListener("change", function () { applyConditions(form); });
    form.addEventListener("input", function () { applyConditions(form); });
    var firstError = form.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError) firstError.focus();
  });

  // -- list filters: folded behind 筛选 on a phone (so the first screen shows the list), open on a wide screen
  document.querySelectorAll("details[data-open-wide]").forEach(function (box) {
    if (window.matchMedia && window.matchMedia("(min-width: 601px)").matches) box.open = true;
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
          if (body.dataset.view) url.searchParams.set("view", body.dataset.view);  // stay on the tab shown
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
