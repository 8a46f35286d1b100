// The console's only script: "busy" notes on long form submissions, and live progress of a switch
// (polls GET /v1/switchovers/{id} with the session cookie until the switch ends). No dependencies.
(function () {
  "use strict";

  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var note = document.getElementById(form.getAttribute("data-busy"));
      if (note) { note.hidden = false; }
      // One submission: a second click must not start a second dry-run or switch.
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });

  var FINAL = ["completed", "failed", "rolled-back", "abandoned"];
  var KIND = { completed: "ok", "True": "ok", failed: "bad", "False": "bad", running: "run" };

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge " + (KIND[status] || "neutral");
    span.textContent = status;
    return span;
  }

  function secs(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(2) + "s"; }

  function setChild(el, child) {
    while (el.firstChild) { el.removeChild(el.firstChild); }
    el.appendChild(child);
  }

  function renderHealth(report) {
    var box = document.getElementById("health");
    if (!box || !report) { return; }
    var wrap = document.createElement("div");
    var p = document.createElement("p");
    p.appendChild(document.createTextNode(report.condition.type + " "));
    p.appendChild(badge(report.condition.status));
    p.appendChild(document.createTextNode(" " + report.condition.message));
    wrap.appendChild(p);
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    ["check", "status", "summary"].forEach(function (t) {
      var th = document.createElement("th"); th.scope = "col"; th.textContent = t; head.appendChild(th);
    });
    var body = table.createTBody();
    report.checks.forEach(function (c) {
      var row = body.insertRow();
      row.insertCell().textContent = c.name;
      row.insertCell().appendChild(badge(c.status));
      row.insertCell().textContent = c.summary;
    });
    wrap.appendChild(table);
    setChild(box, wrap);
  }

  function render(data) {
    var sw = data["switch"];
    sw.steps.forEach(function (st) {
      var row = document.querySelector('tr[data-step="' + st.name + '"]');
      if (!row) { return; }
      setChild(row.querySelector(".state"), badge(st.status));
      row.querySelector(".duration").textContent = secs(st.duration_s);
      row.querySelector(".detail").textContent = st.detail || "";
    });
    var status = document.getElementById("switch-status");
    status.setAttribute("data-status", sw.status);
    setChild(status, badge(sw.status));
    document.getElementById("switch-elapsed").textContent =
      sw.recovery_seconds === null ? "" : "recovery time " + secs(sw.recovery_seconds);
    document.getElementById("switch-error").textContent = sw.error || "";
    var err = data.launch && data.launch.error;
    document.getElementById("launch-error").textContent = err ? err.error + " — " + (err.why || "") : "";
    renderHealth(data.health);
    return FINAL.indexOf(sw.status) >= 0 && (data.health || sw.status !== "completed");
  }

  var table = document.getElementById("progress");
  if (!table) { return; }
  var url = table.getAttribute("data-url");
  var finalSeen = 0;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        var done = render(data);
        // A completed switch's health report follows its last step: look a few more times.
        if (done || (FINAL.indexOf(data["switch"].status) >= 0 && ++finalSeen > 10)) {
          table.setAttribute("data-final", "1");
          return;
        }
        setTimeout(poll, 1000);
      })
      .catch(function (e) {
        document.getElementById("switch-error").textContent = "connection: " + e.message + " (retrying)";
        setTimeout(poll, 2000);
      });
  }
  if (!table.getAttribute("data-final")) { poll(); }
})();
