// Jobs list, job page and queue page: refresh their numbers live from the JSON API.
"use strict";
(function () {
  const PERIOD = 2000;
  function setText(row, f, value) {
    const el = row.querySelector('[data-f="' + f + '"]');
    if (el && el.textContent !== String(value)) el.textContent = value;
    return el;
  }
  function setBar(row, f, pct) {
    const el = row.querySelector('[data-f="' + f + '"]');
    if (el) el.style.width = Math.max(0, Math.min(100, pct)) + "%";
  }
  async function jobsList(table) {
    const jobs = await sm.getJSON(table.dataset.live);
    const body = table.tBodies[0];
    const known = new Set([...body.rows].map((r) => r.dataset.job));
    if (jobs.some((j) => !known.has(String(j.id)))) { location.reload(); return; }
    for (const j of jobs) {
      const row = body.querySelector('tr[data-job="' + j.id + '"]');
      if (!row) continue;
      const st = setText(row, "status", j.status);
      if (st) st.className = "state state-" + j.status;
      setText(row, "done", j.finished + " / " + j.total);
      setText(row, "failed", j.failed);
      setText(row, "running", j.running);
      setBar(row, "bar", j.total ? (100 * j.finished) / j.total : 0);
    }
  }
  let lastStatus = null, lastFailed = null;
  async function jobPage(table) {
    const j = await sm.getJSON(table.dataset.live);
    const status = document.getElementById("job-status");
    status.textContent = j.status;
    status.className = "state state-" + j.status;
    for (const s of j.stages) {
      let row = table.querySelector('tr[data-stage="' + s.stage + '"]');
      if (!row) { location.reload(); return; }
      for (const k of ["total", "pending", "queued", "running", "done", "failed", "skipped", "blocked"]) setText(row, k, s[k] === undefined ? "" : s[k]);
      setText(row, "rate", s.rate.toFixed(2));
      setText(row, "eta", sm.duration(s.eta_seconds));
      setBar(row, "bar", s.total ? (100 * s.finished) / s.total : 0);
      setBar(row, "barfail", s.total ? (100 * s.failed) / s.total : 0);
    }
    document.querySelectorAll('[data-f="failed"]').forEach((el) => { if (!el.closest("tr")) el.textContent = j.failed; });
    const fc = document.getElementById("failed-count");
    if (fc) fc.textContent = "(" + j.failed + ")";
    const retry = document.getElementById("retry-all");
    if (retry) retry.disabled = !j.failed;
    // the failures list, outputs and buttons change with the state: reload then
    if ((lastStatus !== null && lastStatus !== j.status) || (lastFailed !== null && lastFailed !== j.failed)) {
      const url = new URL(location.href);
      url.searchParams.delete("notice");
      location.replace(url.toString());
      return;
    }
    lastStatus = j.status; lastFailed = j.failed;
  }
  let lastWork = null;
  async function queuePage(table) {
    const q = await sm.getJSON(table.dataset.live);
    // who runs what changed (or the broker came or went): show the new picture
    const work = JSON.stringify([q.reachable, q.workers, q.running]);
    if (lastWork !== null && work !== lastWork) { location.reload(); return; }
    lastWork = work;
    for (const [name, depth] of Object.entries(q.queues)) {
      const row = table.querySelector('tr[data-queue="' + name + '"]');
      if (row) setText(row, "depth", depth);
    }
  }
  function loop(fn, el) {
    const tick = async () => {
      try { await fn(el); } catch (e) { /* server busy or gone: try again */ }
      setTimeout(tick, PERIOD);
    };
    setTimeout(tick, PERIOD);
  }
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("jobs-table");
    if (list) loop(jobsList, list);
    const stages = document.getElementById("stages");
    if (stages) loop(jobPage, stages);
    const depths = document.getElementById("depths");
    if (depths) loop(queuePage, depths);
  });
})();
