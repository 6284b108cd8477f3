// Live view of the studies page: polls the studies JSON and updates the rows,
// progress bars and totals in place, adding rows for new studies. The markup
// it builds mirrors the "row" template in index.html. Data is only ever set as
// text or attribute values, never parsed as HTML.
(function () {
  "use strict";
  var section = document.getElementById("studies");
  if (!section || !window.fetch) return;
  var src = section.getAttribute("data-src");
  var interval = Math.max(500, parseInt(section.getAttribute("data-poll-ms"), 10) || 2000);
  var tbody = document.getElementById("study-rows");
  var live = document.getElementById("live");
  var failures = 0;
  var timer = null;
  var inflight = false;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.append(c); });
    return e;
  }

  function statusClass(s) {
    var c = String(s || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    return c || "unknown";
  }

  function stamp(iso) {
    return new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function badge(status) {
    return el("span", { "class": "badge status-" + statusClass(status) }, [status || "UNKNOWN"]);
  }

  function studyCell(s) {
    if (!s.name) return [el("a", { "class": "id-link", href: s.url }, [el("code", null, [s.id])])];
    return [el("a", { "class": "name", href: s.url, title: s.name }, [s.name]), el("code", { "class": "id" }, [s.id])];
  }

  function statusCell(s) {
    var kids = [badge(s.status)];
    if (s.high_return_rate) {
      kids.push(el("span", { "class": "flag", title: "Prolific sent " + s.high_return_rate_events + " high-return-rate event(s)" }, ["High return rate"]));
    }
    return [el("div", { "class": "stack" }, kids)];
  }

  function progressCell(td, s) {
    var bar = td.querySelector("progress") || el("progress");
    var taken = td.querySelector(".taken") || el("span", { "class": "taken" });
    var pct = td.querySelector(".pct") || el("span", { "class": "pct" });
    if (s.places_total > 0) {
      bar.className = s.places_taken >= s.places_total ? "full" : "";
      bar.max = s.places_total;
      bar.value = s.places_taken;
      bar.setAttribute("aria-label", "Places taken of " + s.places_total);
      bar.textContent = s.percent + "%";
      taken.textContent = s.places_taken + " / " + s.places_total;
      pct.textContent = s.percent + "%";
    } else {
      bar.className = "unknown";
      bar.max = 1;
      bar.value = 0;
      bar.setAttribute("aria-label", "Places not known yet");
      bar.textContent = "unknown";
      taken.textContent = s.places_taken + " / ?";
      pct.textContent = "places not fetched yet";
    }
    if (!bar.parentNode) td.replaceChildren(bar, el("span", { "class": "places" }, [taken, " ", pct]));
  }

  function countsCell(s) {
    var items = (s.counts || []).map(function (c) {
      return el("li", { "class": "chip status-" + c["class"], "data-status": c.status, "data-count": String(c.n) },
        [el("b", null, [String(c.n)]), " " + c.status]);
    });
    if (!items.length) items.push(el("li", { "class": "none" }, ["none yet"]));
    return [el("ul", { "class": "counts" }, items)];
  }

  function lastCell(s) {
    if (!s.last_event_at) return [el("span", { "class": "muted" }, ["never"])];
    return [el("time", { datetime: s.last_event_at, title: stamp(s.last_event_at) }, [s.last_event_ago])];
  }

  function fillRow(tr, s) {
    var key = JSON.stringify([s.name, s.status, s.places_taken, s.places_total, s.counts, s.high_return_rate_events]);
    tr.setAttribute("data-status", s.status);
    tr.setAttribute("data-places-taken", String(s.places_taken));
    tr.setAttribute("data-places-total", String(s.places_total));
    if (!tr.cells.length) {
      tr.append(el("th", { scope: "row", "class": "study" }), el("td", { "class": "status" }),
        el("td", { "class": "progress" }), el("td", { "class": "subs" }), el("td", { "class": "last" }));
    }
    if (tr.dataset.key !== key) {
      tr.cells[0].replaceChildren.apply(tr.cells[0], studyCell(s));
      tr.cells[1].replaceChildren.apply(tr.cells[1], statusCell(s));
      progressCell(tr.cells[2], s);
      tr.cells[3].replaceChildren.apply(tr.cells[3], countsCell(s));
      tr.dataset.key = key;
    }
    tr.cells[4].replaceChildren.apply(tr.cells[4], lastCell(s));
  }

  function apply(snap) {
    var rows = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) { rows[tr.getAttribute("data-study-id")] = tr; });
    var seen = {};
    snap.studies.forEach(function (s, i) {
      var tr = rows[s.id];
      if (!tr) tr = el("tr", { "data-study-id": s.id });
      seen[s.id] = true;
      fillRow(tr, s);
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
    });
    for (var id in rows) if (!seen[id]) rows[id].remove();
    Object.keys(snap.totals).forEach(function (k) {
      var dd = section.querySelector('[data-total="' + k + '"]');
      if (dd) dd.textContent = String(snap.totals[k]);
    });
    var any = snap.studies.length > 0;
    document.getElementById("empty").hidden = any;
    document.getElementById("table-wrap").hidden = !any;
    var note = document.getElementById("limit-note");
    if (note) note.hidden = snap.studies.length < snap.studies_limit;
    section.setAttribute("data-updated", snap.generated_at);
  }

  function setLive(state, text, title) {
    if (!live) return;
    if (live.getAttribute("data-state") !== state) {
      live.setAttribute("data-state", state);
      live.textContent = text;
    }
    live.title = title;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function poll() {
    if (document.hidden || inflight) return;
    inflight = true;
    fetch(src, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (snap) {
        apply(snap);
        failures = 0;
        setLive("ok", "Live", "Updated " + new Date().toLocaleTimeString());
      })
      .catch(function (err) {
        failures++;
        setLive("error", "Reconnecting…", "Last attempt failed: " + err.message);
      })
      .then(function () {
        inflight = false;
        schedule(failures ? Math.min(30000, interval * Math.pow(2, failures)) : interval);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) schedule(0);
  });
  setLive("ok", "Live", "Updates every " + interval / 1000 + " s");
  schedule(interval);
})();
