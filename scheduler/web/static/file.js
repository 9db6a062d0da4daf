// File page: the waveform (peaks from the server) with each sample as a band coloured by pitch;
// click a band to hear the sample, shift-click to hear it in context.
"use strict";
(function () {
  let peaks = null, smp = null, mark = null;
  const canvas = () => document.getElementById("wave-canvas");
  function colour(hz, alpha) {
    if (!(hz > 0)) return "rgba(140,140,140," + alpha + ")";
    const midi = 69 + 12 * Math.log2(hz / 440);
    const hue = (((midi % 12) + 12) % 12) * 30;
    return "hsla(" + hue + ",70%,50%," + alpha + ")";
  }
  function draw() {
    const c = canvas();
    const w = (c.width = Math.round(c.clientWidth * devicePixelRatio));
    const h = (c.height = Math.round(160 * devicePixelRatio));
    const g = c.getContext("2d");
    g.clearRect(0, 0, w, h);
    const dur = peaks.duration || 1;
    if (smp) {
      for (let i = 0; i < smp.id.length; i++) {
        const x0 = (smp.start[i] / 1000 / dur) * w, x1 = ((smp.start[i] + smp.dur[i]) / 1000 / dur) * w;
        g.fillStyle = colour(smp.hz[i], i % 2 ? 0.22 : 0.32);
        g.fillRect(x0, 0, Math.max(1, x1 - x0), h);
      }
    }
    const n = peaks.low.length, mid = h / 2;
    g.fillStyle = "#1d1d1b";
    for (let i = 0; i < n; i++) {
      const x0 = (i / n) * w, x1 = ((i + 1) / n) * w;
      const top = mid - peaks.high[i] * mid, bot = mid - peaks.low[i] * mid;
      g.fillRect(x0, top, Math.max(1, x1 - x0), Math.max(1, bot - top));
    }
    if (mark !== null) {
      g.fillStyle = "#c2372b";
      g.fillRect((mark / dur) * w - 1, 0, 2 * devicePixelRatio, h);
    }
  }
  function sampleAt(x) {
    if (!smp || !peaks) return -1;
    const t = (x / canvas().clientWidth) * peaks.duration * 1000;
    for (let i = 0; i < smp.id.length; i++) if (t >= smp.start[i] && t < smp.start[i] + smp.dur[i]) return i;
    return -1;
  }
  document.addEventListener("DOMContentLoaded", async () => {
    const box = document.getElementById("wave");
    if (!box) return;
    const id = box.dataset.file;
    if (box.dataset.start) mark = parseFloat(box.dataset.start);
    const status = document.getElementById("wave-status");
    try {
      [peaks, smp] = await Promise.all([sm.getJSON("/api/files/" + id + "/waveform"), sm.getJSON("/api/files/" + id + "/samples")]);
      status.textContent = smp.id.length + " samples over " + sm.duration(peaks.duration);
      draw();
      window.fileWave = { ready: true, samples: smp.id.length, buckets: peaks.low.length };
    } catch (e) {
      status.textContent = "no waveform: " + e.message;
      window.fileWave = { ready: false, error: String(e) };
      return;
    }
    window.addEventListener("resize", draw);
    canvas().addEventListener("click", (e) => {
      const i = sampleAt(e.offsetX);
      if (i < 0) return;
      mark = smp.start[i] / 1000;
      draw();
      sm.play("/media/samples/" + smp.id[i] + (e.shiftKey ? "/context.opus" : ".opus"));
      const row = document.querySelector('#file-samples tr[data-sample="' + smp.id[i] + '"]');
      if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("hl"); setTimeout(() => row.classList.remove("hl"), 800); }
    });
    if (mark !== null) {
      const t = mark * 1000;
      for (let i = 0; i < smp.id.length; i++) if (t >= smp.start[i] - 1 && t < smp.start[i] + smp.dur[i]) {
        const row = document.querySelector('#file-samples tr[data-sample="' + smp.id[i] + '"]');
        if (row) { row.scrollIntoView({ block: "center" }); row.classList.add("hl"); }
        break;
      }
    }
  });
})();
