/* A batch's page (批量操作): the progress bar follows the workers live. Every second it reads the batch's
   progress (JSON) and updates the bar and the counts; when more cases have finished it swaps in the report table
   (server-drawn HTML); once the batch is done or cancelled it stops, and the cancel button goes. No reload. */
(function () {
  "use strict";
  var card = document.querySelector("[data-batch-progress]");
  if (!card || !window.fetch) return;
  var bar = document.getElementById("batch-bar");
  var report = document.getElementById("batch-report");
  var finished = Number(card.dataset.finished);
  var ended = function (status) { return status === "done" || status === "cancelled"; };

  function refreshReport() {
    return fetch(card.dataset.batchReport, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) report.innerHTML = html; });
  }

  function show(batch) {
    bar.max = batch.total;
    bar.value = batch.finished;
    bar.textContent = batch.percent + "%";
    card.querySelectorAll("[data-field]").forEach(function (el) {
      var value = batch[el.dataset.field];
      if (value !== undefined && value !== null) el.textContent = value;
    });
    card.dataset.status = batch.status;
    card.dataset.finished = batch.finished;
  }

  function poll() {
    fetch(card.dataset.batchProgress, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (batch) {
        if (!batch) return setTimeout(poll, 3000);
        show(batch);
        var moved = batch.finished !== finished;
        finished = batch.finished;
        var done = ended(batch.status);
        (moved || done ? refreshReport() : Promise.resolve()).then(function () {
          if (done) {
            var cancel = card.querySelector(".batch-cancel");
            if (cancel) cancel.remove();
            card.dataset.live = "ended";
          } else {
            setTimeout(poll, 1000);
          }
        });
      })
      .catch(function () { setTimeout(poll, 3000); });
  }

  if (!ended(card.dataset.status)) setTimeout(poll, 1000);
  else card.dataset.live = "ended";
}());
