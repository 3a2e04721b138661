/* Whistle: the little JavaScript the pages use. Everything works without it; it only hides fields that do not
   apply (a form's visible_when) and marks those that become required (required_when), adds and removes the rows
   of a repeating list (dynamiclist) in place — without it the add/remove buttons post the form and the server
   shows it again —, asks for the phone's position when a location field's button is pressed, keeps what was typed
   in this browser until it is submitted (a lost session loses nothing), and refreshes an open inbox when new work
   arrives. */
(function () {
  "use strict";

  // -- conditional fields (the same conditions engine/forms.py evaluates on the server) --------------------
  function text(v) { return v === true ? "true" : v === false ? "false" : v == null ? "" : String(v); }
  function filled(v) { return !(v == null || v === "" || v === false || (Array.isArray(v) && v.length === 0)); }

  function formValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || (el.type === "hidden" && !("locationValue" in el.dataset)) || el.type === "file") return;
      if ("locationValue" in el.dataset) { try { out[el.name] = el.value ? JSON.parse(el.value) : null; } catch (e) { out[el.name] = null; } return; }
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
    // required_when: the mark (*) and aria-required follow the condition, as the server will judge it
    form.querySelectorAll("[data-required-when]").forEach(function (wrap) {
      var condition;
      try { condition = JSON.parse(wrap.dataset.requiredWhen); } catch (e) { return; }
      var row = wrap.closest("[data-prefix]");
      var needed = holds(condition, values, context, row ? row.dataset.prefix : null);
      wrap.querySelectorAll("[data-required-mark]").forEach(function (mark) { mark.hidden = !needed; });
      wrap.querySelectorAll("[data-aria-required]").forEach(function (el) {
        if (needed) el.setAttribute("aria-required", "true"); else el.removeAttribute("aria-required");
      });
    });
  }

  // -- a location field: the phone's position, asked of the browser only when the person presses the button -----
  function setupLocation(box) {
    var input = box.querySelector("[data-location-value]");
    var shown = box.querySelector("[data-location-text]");
    var status = box.querySelector("[data-location-status]");
    var get = box.querySelector("[data-location-get]");
    var clear = box.querySelector("[data-location-clear]");
    var actions = box.querySelector("[data-location-actions]");
    if (!input || !get) return;
    var d = box.dataset;
    var tail = d.required === "true" ? d.textNeeded : d.textOptional;
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    function show(value) {
      shown.textContent = "";
      if (!value) {
        var none = document.createElement("span");
        none.className = "muted";
        none.textContent = d.textNone;
        shown.appendChild(none);
      } else {
        var line = Number(value.lat).toFixed(4) + ", " + Number(value.lng).toFixed(4);
        if (value.accuracy != null) line += d.textAccuracy.replace("{m}", String(Math.round(value.accuracy)));
        if (value.at) {
          var at = new Date(value.at);
          if (!isNaN(at)) line += " · " + d.textWhen.replace("{when}", pad(at.getHours()) + ":" + pad(at.getMinutes()));
        }
        shown.textContent = line;
      }
      clear.hidden = !value;
      get.textContent = value ? d.textAgain : d.textFirst;
    }
    function set(value) {
      input.value = value ? JSON.stringify(value) : "";
      show(value);
      input.dispatchEvent(new Event("change", { bubbles: true }));  // conditions, and the unsent copy (below)
    }
    actions.hidden = false;
    get.addEventListener("click", function () {
      if (window.isSecureContext === false) { status.textContent = d.textInsecure + tail; return; }
      if (!navigator.geolocation) { status.textContent = d.textUnsupported + tail; return; }
      status.textContent = d.textWait;
      get.disabled = true;
      navigator.geolocation.getCurrentPosition(function (position) {
        var c = position.coords;
        get.disabled = false;
        status.textContent = "";
        set({ lat: Math.round(c.latitude * 1e7) / 1e7, lng: Math.round(c.longitude * 1e7) / 1e7,
              accuracy: c.accuracy != null ? Math.round(c.accuracy * 10) / 10 : null,
              at: new Date(position.timestamp || Date.now()).toISOString() });
      }, function (error) {
        get.disabled = false;
        var why = error && error.code === 1 ? d.textDenied : error && error.code === 3 ? d.textTimeout : d.textUnavailable;
        status.textContent = why + tail;
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
    clear.addEventListener("click", function () {
      set(null);
      status.textContent = d.textCleared;
      get.focus();
    });
    input.addEventListener("whistle:restored", function () {
      var value = null;
      try { value = input.value ? JSON.parse(input.value) : null; } catch (e) { value = null; }
      show(value);
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

  // -- what was typed outlives a lost session: a copy in this browser (localStorage), per person and form URL ------
  // Saved as the person types (never files, passwords or the CSRF token); dropped once a submit went through (the
  // page after it says so and shows no error) or when 放弃 is chosen, and on signing out; offered back on the
  // form's page when newer than the draft saved on the server. After a lost session the sign-in page brings the
  // person back to the form (webui/staff/frame.py).
  var UNSENT = "whistle.unsent:";
  var SENT = "whistle.sent";  // sessionStorage: the copy of the form this tab has just submitted
  var KEEP_MS = 14 * 86400 * 1000;

  function store(kind) {
    try { var s = window[kind]; s.setItem("whistle.probe", "1"); s.removeItem("whistle.probe"); return s; } catch (e) { return null; }
  }
  var local = store("localStorage"), tab = store("sessionStorage");
  var signingOut = false;  // set on signing out: nothing is saved any more (a field's last change, the page leaving)

  function kept(form, el) {
    if (!el.name || el.type === "file" || el.type === "password" || el.type === "submit" || el.type === "button") return false;
    if (el.name === "csrf_token" || el.name === "_submit") return false;
    if (el.type === "hidden" && !("locationValue" in el.dataset)) return false;
    return !form.querySelector('input[type=file][name="' + el.name + '"]');  // an uploaded file's box: not kept
  }

  function typedValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(form, el)) return;
      var list = out[el.name] || (out[el.name] = []);
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) list.push(el.value); return; }
      if (el.multiple) { Array.prototype.forEach.call(el.options, function (o) { if (o.selected) list.push(o.value); }); return; }
      list.push(el.value);
    });
    return out;
  }

  function sameValues(a, b) {
    function given(v) { return (v || []).filter(function (x) { return x !== ""; }); }
    return Object.keys(a).concat(Object.keys(b)).every(function (k) {
      return JSON.stringify(given(a[k])) === JSON.stringify(given(b[k]));
    });
  }

  function readCopy(key) {
    try { var copy = JSON.parse(local.getItem(key) || "null"); return copy && copy.values ? copy : null; } catch (e) { return null; }
  }

  function restoreValues(form, saved) {
    var values = {};
    Object.keys(saved).forEach(function (k) { values[k] = saved[k]; });
    var cell = /^(.+)\[(\d+)\]\[([^\]]+)\]$/;
    form.querySelectorAll("[data-list]").forEach(function (list) {  // rows: as many as were typed, in their order
      var name = list.dataset.list, indexes = [];
      Object.keys(saved).forEach(function (k) {
        var m = cell.exec(k);
        if (m && m[1] === name && indexes.indexOf(Number(m[2])) < 0) indexes.push(Number(m[2]));
      });
      indexes.sort(function (x, y) { return x - y; });
      var add = list.querySelector("[data-row-add]");
      var rows = function () { return list.querySelectorAll("tbody[data-rows] > tr.list-row"); };
      for (var guard = 0; rows().length < indexes.length && add && !add.disabled && guard < 500; guard++) add.click();
      Object.keys(saved).forEach(function (k) {
        var m = cell.exec(k);
        if (!m || m[1] !== name) return;
        delete values[k];
        var row = rows()[indexes.indexOf(Number(m[2]))];
        if (row) values[row.dataset.prefix + "[" + m[3] + "]"] = saved[k];
      });
    });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(form, el) || !(el.name in values)) return;
      var given = values[el.name];
      if (el.type === "radio" || el.type === "checkbox") el.checked = given.indexOf(el.value) >= 0;
      else if (el.multiple) Array.prototype.forEach.call(el.options, function (o) { o.selected = given.indexOf(o.value) >= 0; });
      else el.value = given[0] || "";
      if ("locationValue" in el.dataset) el.dispatchEvent(new Event("whistle:restored"));
    });
    applyConditions(form);
  }

  function stamp(ms) {
    var at = new Date(ms), now = new Date();
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    var time = pad(at.getHours()) + ":" + pad(at.getMinutes());
    return at.toDateString() === now.toDateString() ? time : pad(at.getMonth() + 1) + "-" + pad(at.getDate()) + " " + time;
  }

  function offerCopy(form, key, copy) {
    var d = form.dataset;
    var box = document.createElement("div");
    box.className = "flash flash-info unsent";
    box.setAttribute("role", "status");
    var line = document.createElement("span");
    line.textContent = d.restoreText.replace("{when}", stamp(copy.at)) + " ";
    var yes = document.createElement("button");
    yes.type = "button";
    yes.className = "primary";
    yes.textContent = d.restoreButton;
    var no = document.createElement("button");
    no.type = "button";
    no.className = "quiet";
    no.textContent = d.discardButton;
    box.appendChild(line);
    box.appendChild(yes);
    box.appendChild(document.createTextNode(" "));
    box.appendChild(no);
    form.parentNode.insertBefore(box, form);
    yes.addEventListener("click", function () {
      restoreValues(form, copy.values);
      box.textContent = d.restoredText;
      var first = form.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });
    no.addEventListener("click", function () {
      local.removeItem(key);
      box.parentNode.removeChild(box);
    });
  }

  function setupAutosave(form) {
    if (!local || !form.dataset.autosave) return;
    var key = UNSENT + form.dataset.autosave;
    var offset = (Number(form.dataset.serverNow) || Date.now()) - Date.now();  // the server's clock (the demo clock)
    var draftAt = Number(form.dataset.draftAt) || 0;
    var copy = readCopy(key);
    if (copy && draftAt && copy.at <= draftAt) { local.removeItem(key); copy = null; }  // the saved draft is newer
    var showsErrors = document.querySelector("#form-errors, .has-error");  // the page shows what was posted
    if (copy && !showsErrors && !sameValues(copy.values, typedValues(form))) offerCopy(form, key, copy);
    var timer = null;
    function save() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (signingOut) return;
      try { local.setItem(key, JSON.stringify({ at: Date.now() + offset, values: typedValues(form) })); } catch (e) { /* full, or private browsing */ }
    }
    function soon() { if (timer) clearTimeout(timer); timer = setTimeout(save, 400); }
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    form.addEventListener("submit", function () {
      if (timer) save();
      if (tab) tab.setItem(SENT, key);
    });
    window.addEventListener("pagehide", function () { if (timer) save(); });
  }

  // The page after a submit: a success message and no error means it went through, so its copy goes.
  (function settleSubmitted() {
    if (!local || !tab) return;
    var key = tab.getItem(SENT);
    if (!key) return;
    tab.removeItem(SENT);
    if (document.querySelector(".flash-ok") && !document.querySelector(".flash-error, #form-errors, .has-error")) local.removeItem(key);
  })();

  if (local) {  // copies older than two weeks, and the signing-out person's, go
    for (var i = local.length - 1; i >= 0; i--) {
      var name = local.key(i);
      if (name && name.indexOf(UNSENT) === 0) {
        var old = readCopy(name);
        if (!old || !(old.at > Date.now() - KEEP_MS)) local.removeItem(name);
      }
    }
    document.querySelectorAll("form[data-signout-user]").forEach(function (out) {
      out.addEventListener("submit", function () {
        signingOut = true;
        var mine = UNSENT + out.dataset.signoutUser + " ";
        for (var j = local.length - 1; j >= 0; j--) {
          var k = local.key(j);
          if (k && k.indexOf(mine) === 0) local.removeItem(k);
        }
      });
    });
  }

  document.querySelectorAll("form.task-form").forEach(function (form) {
    form.querySelectorAll("[data-list]").forEach(function (list) { setupList(list, form); });
    form.querySelectorAll("[data-location]").forEach(setupLocation);
    applyConditions(form);
    setupAutosave(form);
    form.addEventListener("change", function () { applyConditions(form); });
    form.addEventListener("input", function () { applyConditions(form); });
    var firstError = form.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError) firstError.focus();
  });

  // -- list filters: folded behind 筛选 on a phone (so the first screen shows the list), open on a wide screen
  document.querySelectorAll("details[data-open-wide]").forEach(function (box) {
    if (window.matchMedia && window.matchMedia("(min-width: 601px)").matches) box.open = true;
  });

  // -- live inbox: a server-sent event when a task is offered to me or my group (GET /events/inbox, read from the
  //    database, so any server process answers); the list reloads and the tab title shows the unread count. A small
  //    fingerprint polled every few seconds stays as the fallback (no EventSource, a proxy that buffers, a server
  //    with all its live streams taken answers 503).
  var body = document.getElementById("inbox-body");
  if (body && window.fetch) {
    var digest = body.dataset.digest;
    var every = Math.max(2, Number(body.dataset.pollSeconds) || 10) * 1000;
    var live = document.getElementById("live");
    var reload = function (force) {
      return fetch(body.dataset.pollUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j || (!force && j.digest === digest)) return null;
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
        });
    };
    var tick = function () {
      if (document.hidden) { setTimeout(tick, every); return; }
      reload(false)
        .catch(function () { /* offline for a moment: try again later */ })
        .then(function () { setTimeout(tick, every); });
    };
    setTimeout(tick, every);

    var bellCount = document.getElementById("bell-count");
    var baseTitle = document.title;
    var showCount = function (n) {
      document.title = n > 0 ? "(" + n + ") " + baseTitle : baseTitle;
      if (bellCount) { bellCount.textContent = String(n); bellCount.hidden = !(n > 0); }
    };
    showCount(bellCount ? Number(bellCount.textContent) || 0 : 0);
    if (window.EventSource && body.dataset.eventsUrl) {
      var source = new EventSource(body.dataset.eventsUrl);
      source.addEventListener("notification", function (e) {
        var note = {};
        try { note = JSON.parse(e.data); } catch (err) { /* a malformed event: the list still reloads */ }
        if (typeof note.unread === "number") showCount(note.unread);
        reload(true).catch(function () { /* the poll will catch up */ });
      });
      window.addEventListener("pagehide", function () { source.close(); });
    }
  }
})();
