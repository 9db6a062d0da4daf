// Shared page helpers: bar widths from data-w, confirmations, the CSRF token, one-shot playback.
"use strict";
window.sm = (function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  function bars(root) {
    (root || document).querySelectorAll("[data-w]").forEach((el) => {
      const w = Math.max(0, Math.min(100, parseFloat(el.dataset.w) || 0));
      el.style.width = w + "%";
    });
  }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "-";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }
  async function getJSON(url) {
    const r = await fetch(url, { headers: { accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }
  let player = null;
  const stats = { requested: 0, played: 0 };
  function play(url) {
    if (!player) player = new Audio();
    player.pause();
    player.src = url;
    stats.requested += 1;
    player.play().then(() => { stats.played += 1; }).catch(() => {});
    return player;
  }
  document.addEventListener("DOMContentLoaded", () => {
    bars();
    document.querySelectorAll("form[data-confirm]").forEach((f) => {
      f.addEventListener("submit", (e) => {
        if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
      });
    });
    document.body.addEventListener("click", (e) => {
      const b = e.target.closest("button.play[data-sample]");
      if (!b) return;
      e.preventDefault();
      play("/media/samples/" + b.dataset.sample + (e.shiftKey ? "/context.opus" : ".opus"));
    });
  });
  return { csrf, bars, duration, getJSON, play, stats };
})();
