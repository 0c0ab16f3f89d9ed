// hoist dashboard: follows /events (server-sent events) on pages marked data-live and
// updates instance rows as a rollout runs. Text only (textContent), never markup.
(function () {
  "use strict";
  var body = document.body;
  if (!body.dataset.live) {
    return;
  }
  var panels = document.getElementById("live");
  var source = new EventSource("/events");
  source.onopen = function () {
    body.dataset.liveState = "connected";
  };
  source.onerror = function () {
    body.dataset.liveState = "reconnecting";
  };

  function label(state) {
    return String(state).replace(/_/g, " ");
  }

  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) {
      e.className = className;
    }
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  }

  // The tables following deployment `id` (the live panel's and the deployment page's).
  function tables(id) {
    var found = [];
    document.querySelectorAll("table.instances").forEach(function (t) {
      if (t.dataset.deployment === String(id)) {
        found.push(t);
      }
    });
    return found;
  }

  function row(table, tenant) {
    var rows = table.querySelectorAll("tr[data-tenant]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.tenant === tenant) {
        return rows[i];
      }
    }
    var tr = element("tr");
    tr.dataset.tenant = tenant;
    tr.appendChild(element("td", "tenant", tenant));
    tr.appendChild(element("td", "state", ""));
    tr.appendChild(element("td", "message", ""));
    table.appendChild(tr);
    return tr;
  }

  function setState(tr, state, message) {
    if (tr.dataset.state === state && !message) {
      return;
    }
    var cell = tr.querySelector(".state");
    cell.textContent = label(state);
    cell.className = "state " + state;
    var text = tr.querySelector(".message");
    if (text && message) {
      text.textContent = message;
    }
    if (tr.dataset.state !== state) {
      tr.dataset.states = (tr.dataset.states ? tr.dataset.states + " " : "") + state;
    }
    tr.dataset.state = state;
  }

  function matrixCell(environment, tenant) {
    var cells = document.querySelectorAll("td.cell");
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].dataset.env === environment && cells[i].dataset.tenant === tenant) {
        return cells[i];
      }
    }
    return null;
  }

  function onStarted(e) {
    if (!panels) {
      return;
    }
    var box = element("div", "rollout");
    box.dataset.deployment = e.deployment;
    box.dataset.environment = e.environment || "";
    var title = element("h3", "", "");
    var link = element("a", "", "deployment " + e.deployment);
    link.href = "/deployments/" + e.deployment;
    title.appendChild(link);
    title.appendChild(document.createTextNode(
      ": " + e.deployment_kind + " " + e.version + " to " + e.environment +
      " (job " + e.job + ", " + e.instances + " instances)"));
    box.appendChild(title);
    var outcome = element("p", "outcome running", "running");
    outcome.dataset.outcome = "running";
    box.appendChild(outcome);
    var table = element("table", "instances");
    table.dataset.deployment = e.deployment;
    var head = element("tr");
    ["tenant", "state", "message"].forEach(function (h) {
      head.appendChild(element("th", "", h));
    });
    table.appendChild(head);
    box.appendChild(table);
    panels.insertBefore(box, panels.firstChild);
  }

  function onProgress(e) {
    if (e.deployment === null || !e.tenant) {
      return;
    }
    tables(e.deployment).forEach(function (t) {
      setState(row(t, e.tenant), e.state, e.message);
    });
    var cell = matrixCell(e.environment, e.tenant);
    if (cell) {
      var state = cell.querySelector(".state");
      state.textContent = label(e.state);
      state.className = "state " + e.state;
      cell.dataset.state = e.state;
    }
  }

  function onFinished(e) {
    tables(e.deployment).forEach(function (t) {
      e.tenants.forEach(function (o) {
        setState(row(t, o.tenant), o.state, o.message);
      });
    });
    e.tenants.forEach(function (o) {
      var cell = matrixCell(e.environment, o.tenant);
      if (cell && (o.state === "healthy" || o.state === "unchanged")) {
        cell.querySelector(".release").textContent = e.version;
      }
    });
    var outcomes = [];
    document.querySelectorAll(".rollout").forEach(function (box) {
      if (box.dataset.deployment === String(e.deployment)) {
        outcomes.push(box.querySelector(".outcome"));
      }
    });
    var page = document.getElementById("outcome");
    var table = document.querySelector("table.instances");
    if (page && table && table.dataset.deployment === String(e.deployment)) {
      outcomes.push(page);
      var message = document.getElementById("outcome-message");
      if (message) {
        message.textContent = e.message;
      }
    }
    outcomes.forEach(function (o) {
      o.textContent = page === o ? e.outcome : e.outcome + ": " + e.message;
      o.className = (page === o ? "" : "outcome ") + e.outcome;
      o.dataset.outcome = e.outcome;
    });
    body.dataset.stale = "true";
  }

  function on(kind, handler) {
    source.addEventListener(kind, function (m) {
      var e;
      try {
        e = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      handler(e);
    });
  }

  on("rollout_started", onStarted);
  on("instance_progress", onProgress);
  on("rollout_finished", onFinished);
  // Fell behind: what is shown may be wrong; the server's page is right.
  source.addEventListener("lagged", function () {
    window.location.reload();
  });
})();
