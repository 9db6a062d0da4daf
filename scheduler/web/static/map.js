// The sample map: a subset's t-SNE points and its grid drawn on canvases from one binary
// payload (typed arrays); hover plays samples through Web Audio (several voices, a re-trigger
// pause, a length cap); wheel zooms, drag pans; click selects (source, context), shift-click
// collects; collected samples download as a sample pack. window.sampleMap exposes counters.
"use strict";
(function () {
  const RETRIGGER_MS = 350;     // a point does not re-trigger sooner than this
  const HOVER_PX = 7;           // how near the pointer a t-SNE point must be (CSS px)
  const CACHE_MOST = 600;       // decoded buffers kept
  const PACK_MOST = 512;
  const TYPES = { f32: Float32Array, f64: Float64Array, i32: Int32Array };
  // viridis, 9 stops
  const STOPS = [[68,1,84],[71,44,122],[59,81,139],[44,113,142],[33,144,141],[39,173,129],[92,200,99],[170,220,50],[253,231,37]];

  const stats = (window.sampleMap = {
    ready: false, firstDrawMs: null, payloadBytes: 0, points: 0, requested: 0, decoded: 0,
    played: 0, ended: 0, active: 0, errors: 0, latencies: [], lastLatencyMs: null,
    lastPlayedId: null, ctxState: () => (audio.ctx ? audio.ctx.state : "none"),
  });
  const S = {
    n: 0, col: {}, header: null, gw: 0, gh: 0, cell: null, colourKey: "midi", colours: null,
    order: null, visible: null, hover: -1, selected: -1, collected: [],
    views: { tsne: { k: 1, tx: 0, ty: 0 }, grid: { k: 1, tx: 0, ty: 0 } }, base: {},
    bucket: null, legend: { lo: 0, hi: 1, name: "" },
  };
  const audio = { ctx: null, master: null, buffers: new Map(), pending: new Map(), last: new Map(), voices: [] };
  const $ = (id) => document.getElementById(id);

  // ---------- data ----------
  function parse(buf) {
    const dv = new DataView(buf);
    const magic = String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3));
    if (magic !== "SMP1") throw new Error("not a sample map payload");
    const hlen = dv.getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, hlen)));
    const base = 8 + hlen;
    for (const c of header.columns) S.col[c.name] = new TYPES[c.type](buf, base + c.offset, c.length);
    S.header = header;
    S.n = header.n;
    let gw = 0, gh = 0;
    if (header.grid && /^\d+x\d+$/.test(header.grid)) [gw, gh] = header.grid.split("x").map(Number);
    for (let i = 0; i < S.n; i++) { gw = Math.max(gw, S.col.col[i] + 1); gh = Math.max(gh, S.col.row[i] + 1); }
    S.gw = gw; S.gh = gh;
    S.cell = new Int32Array(gw * gh).fill(-1);
    for (let i = 0; i < S.n; i++) if (S.col.col[i] >= 0) S.cell[S.col.row[i] * gw + S.col.col[i]] = i;
    S.visible = new Uint8Array(S.n).fill(1);
    buildBuckets();
  }
  function buildBuckets() {  // a 64x64 hash of t-SNE positions for hit tests
    const G = 64, x = S.col.x, y = S.col.y, n = S.n;
    const key = new Int32Array(n), counts = new Int32Array(G * G + 1);
    for (let i = 0; i < n; i++) {
      if (!isFinite(x[i]) || !isFinite(y[i])) { key[i] = -1; continue; }
      const bx = Math.min(G - 1, Math.max(0, Math.floor(x[i] * G))), by = Math.min(G - 1, Math.max(0, Math.floor(y[i] * G)));
      key[i] = by * G + bx; counts[key[i] + 1]++;
    }
    for (let b = 0; b < G * G; b++) counts[b + 1] += counts[b];
    const items = new Int32Array(n), fill = counts.slice(0, G * G);
    for (let i = 0; i < n; i++) if (key[i] >= 0) items[fill[key[i]]++] = i;
    S.bucket = { G, starts: counts, items };
  }
  function featureValues(name) {
    const n = S.n, out = new Float32Array(n);
    if (name === "file") { for (let i = 0; i < n; i++) out[i] = S.col.file[i]; return out; }
    const src = S.col[name];
    for (let i = 0; i < n; i++) {
      let v = src[i];
      if ((name === "midi" || name === "hz") && !(v > 0)) v = NaN;  // unpitched
      else if (name === "hz") v = Math.log2(v);
      out[i] = v;
    }
    return out;
  }
  function rawValue(name, i) { return name === "file" ? S.col.file[i] : S.col[name][i]; }
  function quantiles(values) {
    const f = Array.from(values).filter((v) => isFinite(v)).sort((a, b) => a - b);
    if (!f.length) return [0, 1];
    const lo = f[Math.floor(0.02 * (f.length - 1))], hi = f[Math.floor(0.98 * (f.length - 1))];
    return hi > lo ? [lo, hi] : [lo, lo + 1];
  }
  function ramp(t) {
    t = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(t)), f = t - i, a = STOPS[i], b = STOPS[i + 1];
    return "rgb(" + Math.round(a[0] + (b[0] - a[0]) * f) + "," + Math.round(a[1] + (b[1] - a[1]) * f) + "," + Math.round(a[2] + (b[2] - a[2]) * f) + ")";
  }
  function computeColours() {
    const name = S.colourKey, n = S.n, values = featureValues(name);
    const palette = [], idx = new Uint16Array(n);
    if (name === "file") {
      const files = S.header.files.length;
      for (let f = 0; f < files; f++) palette.push("hsl(" + ((f * 137.508) % 360) + ",65%,58%)");
      for (let i = 0; i < n; i++) idx[i] = values[i];
      S.legend = { lo: "", hi: files + " files", name: "file" };
    } else {
      const [lo, hi] = quantiles(values);
      for (let b = 0; b < 64; b++) palette.push(ramp(b / 63));
      palette.push("#555");  // no value (unpitched)
      for (let i = 0; i < n; i++) {
        const v = values[i];
        idx[i] = isFinite(v) ? Math.round(63 * Math.max(0, Math.min(1, (v - lo) / (hi - lo)))) : 64;
      }
      const show = (v) => (name === "hz" ? Math.round(2 ** v) + " Hz" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
      S.legend = { lo: show(lo), hi: show(hi), name: name === "hz" ? "hz (log)" : name };
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => idx[a] - idx[b]);
    S.colours = { palette, idx };
    S.order = Int32Array.from(order);
    drawLegend();
  }
  function applyFilter() {
    const name = $("filter-feature").value;
    const lo = parseFloat($("filter-lo").value), hi = parseFloat($("filter-hi").value);
    let shown = 0;
    for (let i = 0; i < S.n; i++) {
      const v = rawValue(name, i);
      const ok = (isNaN(lo) || v >= lo) && (isNaN(hi) || v <= hi);
      S.visible[i] = ok ? 1 : 0;
      shown += S.visible[i];
    }
    return shown;
  }

  // ---------- drawing ----------
  function sizeCanvas(c) {
    const w = Math.max(100, Math.round(c.clientWidth * devicePixelRatio));
    if (c.width !== w || c.height !== w) { c.width = w; c.height = w; }
    return w;
  }
  const PAD = 0.03;
  function toScreen(view, W, x, y) {
    const span = W * (1 - 2 * PAD);
    return [(W * PAD + x * span) * view.k + view.tx, (W * PAD + y * span) * view.k + view.ty];
  }
  function drawBase(which) {
    const c = $(which), W = sizeCanvas(c);
    let off = S.base[which];
    if (!off || off.width !== W) { off = S.base[which] = document.createElement("canvas"); off.width = W; off.height = W; }
    const g = off.getContext("2d"), view = S.views[which], pal = S.colours.palette, idx = S.colours.idx;
    g.fillStyle = "#000"; g.fillRect(0, 0, W, W);
    if (which === "tsne") {
      const sz = Math.max(1.5 * devicePixelRatio, Math.min(10 * devicePixelRatio, (W / Math.sqrt(S.n + 1)) * 0.55 * Math.sqrt(view.k)));
      const h = sz / 2, x = S.col.x, y = S.col.y;
      g.fillStyle = "#2a2a2a";
      for (let i = 0; i < S.n; i++) if (!S.visible[i] && isFinite(x[i])) { const p = toScreen(view, W, x[i], y[i]); g.fillRect(p[0] - h, p[1] - h, sz, sz); }
      let cur = -1;
      for (let j = 0; j < S.n; j++) {
        const i = S.order[j];
        if (!S.visible[i] || !isFinite(x[i])) continue;
        if (idx[i] !== cur) { cur = idx[i]; g.fillStyle = pal[cur]; }
        const p = toScreen(view, W, x[i], y[i]);
        if (p[0] < -sz || p[1] < -sz || p[0] > W + sz || p[1] > W + sz) continue;
        g.fillRect(p[0] - h, p[1] - h, sz, sz);
      }
    } else {
      const cw = (W / Math.max(S.gw, S.gh)) * view.k;
      let cur = -1;
      for (let j = 0; j < S.n; j++) {
        const i = S.order[j];
        if (S.col.col[i] < 0) continue;
        const colour = S.visible[i] ? idx[i] : -2;
        if (colour !== cur) { cur = colour; g.fillStyle = colour === -2 ? "#222" : pal[colour]; }
        const px = S.col.col[i] * cw + view.tx, py = S.col.row[i] * cw + view.ty;
        if (px > W || py > W || px < -cw || py < -cw) continue;
        g.fillRect(px, py, Math.max(1, cw - (cw > 6 ? 1 : 0)), Math.max(1, cw - (cw > 6 ? 1 : 0)));
      }
    }
  }
  function pointBox(which, i) {
    const W = $(which).width, view = S.views[which];
    if (which === "tsne") {
      const p = toScreen(view, W, S.col.x[i], S.col.y[i]);
      const r = Math.max(5 * devicePixelRatio, (W / Math.sqrt(S.n + 1)) * 0.5 * Math.sqrt(view.k));
      return [p[0] - r, p[1] - r, 2 * r, 2 * r];
    }
    if (S.col.col[i] < 0) return null;
    const cw = (W / Math.max(S.gw, S.gh)) * view.k;
    return [S.col.col[i] * cw + view.tx, S.col.row[i] * cw + view.ty, cw, cw];
  }
  function present(which) {
    const c = $(which), g = c.getContext("2d");
    g.drawImage(S.base[which], 0, 0);
    g.lineWidth = 2 * devicePixelRatio;
    for (const [i, colour] of [[S.hover, "#fff"], [S.selected, "#ff4d4d"]]) {
      if (i < 0) continue;
      const b = pointBox(which, i);
      if (!b) continue;
      g.strokeStyle = colour;
      g.strokeRect(b[0], b[1], b[2], b[3]);
    }
    g.strokeStyle = "#4dd2ff"; g.lineWidth = 1 * devicePixelRatio;
    for (const i of S.collected) { const b = pointBox(which, i); if (b) g.strokeRect(b[0] + 1, b[1] + 1, b[2] - 2, b[3] - 2); }
  }
  function redraw() { for (const w of ["tsne", "grid"]) { drawBase(w); present(w); } }
  function drawLegend() {
    const c = $("legend-bar"), g = c.getContext("2d");
    for (let x = 0; x < c.width; x++) { g.fillStyle = S.colourKey === "file" ? "hsl(" + ((x * 7) % 360) + ",65%,58%)" : ramp(x / (c.width - 1)); g.fillRect(x, 0, 1, c.height); }
    $("legend-lo").textContent = S.legend.lo; $("legend-hi").textContent = S.legend.hi; $("legend-name").textContent = S.legend.name;
  }

  // ---------- hit tests ----------
  function hit(which, ev) {
    const c = $(which), rect = c.getBoundingClientRect();
    const mx = (ev.clientX - rect.left) * devicePixelRatio, my = (ev.clientY - rect.top) * devicePixelRatio;
    const W = c.width, view = S.views[which];
    if (which === "grid") {
      const cw = (W / Math.max(S.gw, S.gh)) * view.k;
      const col = Math.floor((mx - view.tx) / cw), row = Math.floor((my - view.ty) / cw);
      if (col < 0 || row < 0 || col >= S.gw || row >= S.gh) return -1;
      const i = S.cell[row * S.gw + col];
      return i >= 0 && S.visible[i] ? i : -1;
    }
    const span = W * (1 - 2 * PAD) * view.k;
    const dx = ((mx - view.tx) / view.k - W * PAD) / (W * (1 - 2 * PAD)), dy = ((my - view.ty) / view.k - W * PAD) / (W * (1 - 2 * PAD));
    const r = (HOVER_PX * devicePixelRatio) / span, B = S.bucket, G = B.G;
    let best = -1, bestD = r * r;
    const bx0 = Math.max(0, Math.floor((dx - r) * G)), bx1 = Math.min(G - 1, Math.floor((dx + r) * G));
    const by0 = Math.max(0, Math.floor((dy - r) * G)), by1 = Math.min(G - 1, Math.floor((dy + r) * G));
    for (let by = by0; by <= by1; by++) for (let bx = bx0; bx <= bx1; bx++) {
      const b = by * G + bx;
      for (let k = B.starts[b]; k < B.starts[b + 1]; k++) {
        const i = B.items[k];
        if (!S.visible[i]) continue;
        const ex = S.col.x[i] - dx, ey = S.col.y[i] - dy, d = ex * ex + ey * ey;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }

  // ---------- sound ----------
  function soundOn() {
    if (!audio.ctx) {
      audio.ctx = new AudioContext({ latencyHint: "interactive" });
      audio.master = audio.ctx.createGain();
      audio.master.gain.value = 0.8;
      audio.master.connect(audio.ctx.destination);
    }
    return audio.ctx.resume().then(() => {
      $("sound").textContent = "Sound is on"; $("sound").classList.remove("primary");
    });
  }
  function load(id) {
    if (audio.buffers.has(id)) return Promise.resolve(audio.buffers.get(id));
    if (audio.pending.has(id)) return audio.pending.get(id);
    stats.requested += 1;
    const p = fetch("/media/samples/" + id + ".opus")
      .then((r) => { if (!r.ok) throw new Error("audio " + r.status); return r.arrayBuffer(); })
      .then((b) => audio.ctx.decodeAudioData(b))
      .then((buf) => {
        stats.decoded += 1;
        audio.buffers.set(id, buf);
        if (audio.buffers.size > CACHE_MOST) audio.buffers.delete(audio.buffers.keys().next().value);
        return buf;
      })
      .finally(() => audio.pending.delete(id));
    audio.pending.set(id, p);
    return p;
  }
  function stopVoice(v) {
    const t = audio.ctx.currentTime;
    try { v.gain.gain.cancelScheduledValues(t); v.gain.gain.setValueAtTime(v.gain.gain.value, t); v.gain.gain.linearRampToValueAtTime(0, t + 0.015); v.src.stop(t + 0.02); } catch (e) { /* already stopped */ }
  }
  async function trigger(i, t0) {
    if (!audio.ctx || audio.ctx.state !== "running") return;
    const now = performance.now(), last = audio.last.get(i);
    if (last !== undefined && now - last < RETRIGGER_MS) return;
    audio.last.set(i, now);
    const id = S.col.id[i];
    let buf;
    try { buf = await load(id); } catch (e) { stats.errors += 1; return; }
    const most = Math.max(1, Math.min(16, parseInt($("voices").value, 10) || 4));
    while (audio.voices.length >= most) stopVoice(audio.voices.shift());
    const ctx = audio.ctx, src = ctx.createBufferSource(), gain = ctx.createGain();
    src.buffer = buf; src.connect(gain); gain.connect(audio.master);
    const cap = (parseInt($("cap").value, 10) || 1000) / 1000, len = Math.min(buf.duration, cap), t = ctx.currentTime;
    gain.gain.setValueAtTime(1, t);
    gain.gain.setValueAtTime(1, t + Math.max(0, len - 0.02));
    gain.gain.linearRampToValueAtTime(0, t + len);
    const voice = { src, gain, i };
    src.onended = () => { const k = audio.voices.indexOf(voice); if (k >= 0) audio.voices.splice(k, 1); stats.ended += 1; stats.active = audio.voices.length; };
    src.start(t, 0, len + 0.01);
    audio.voices.push(voice);
    const latency = performance.now() - t0;
    performance.measure("hover-to-sound", { start: t0, end: performance.now() });
    stats.latencies.push(latency); stats.lastLatencyMs = latency; stats.played += 1; stats.active = audio.voices.length; stats.lastPlayedId = id;
  }

  // ---------- interaction ----------
  // where point i is on the page (CSS px, client coordinates) in a view: for tests and benches
  stats.screenOf = (i, which) => {
    which = which || "tsne";
    const c = $(which), rect = c.getBoundingClientRect(), b = pointBox(which, i);
    if (!b) return null;
    return { x: rect.left + (b[0] + b[2] / 2) / devicePixelRatio, y: rect.top + (b[1] + b[3] / 2) / devicePixelRatio };
  };
  stats.indexOf = (id) => { for (let i = 0; i < S.n; i++) if (S.col.id[i] === id) return i; return -1; };
  stats.idAt = (i) => S.col.id[i];
  stats.valueOf = (name, i) => S.col[name][i];
  stats.collected = () => S.collected.map((i) => S.col.id[i]);

  function bind(which) {
    const c = $(which);
    let drag = null;
    c.addEventListener("pointerdown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, moved: false }; c.setPointerCapture(ev.pointerId); });
    c.addEventListener("pointerup", (ev) => {
      if (drag && !drag.moved) click(which, ev);
      drag = null;
    });
    c.addEventListener("pointermove", (ev) => {
      if (drag && ev.buttons) {
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (drag.moved || Math.abs(dx) + Math.abs(dy) > 4) {
          drag.moved = true;
          const v = S.views[which];
          v.tx += dx * devicePixelRatio; v.ty += dy * devicePixelRatio;
          drag.x = ev.clientX; drag.y = ev.clientY;
          drawBase(which); present(which);
        }
        return;
      }
      const i = hit(which, ev);
      if (i !== S.hover) {
        S.hover = i;
        present("tsne"); present("grid");
        if (i >= 0) { trigger(i, ev.timeStamp); status(i); }
      }
    });
    c.addEventListener("pointerleave", () => { S.hover = -1; present("tsne"); present("grid"); });
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const rect = c.getBoundingClientRect(), v = S.views[which];
      const mx = (ev.clientX - rect.left) * devicePixelRatio, my = (ev.clientY - rect.top) * devicePixelRatio;
      const f = Math.exp(-ev.deltaY * 0.0015), k = Math.max(1, Math.min(60, v.k * f)), g = k / v.k;
      v.tx = mx - (mx - v.tx) * g; v.ty = my - (my - v.ty) * g; v.k = k;
      if (k === 1) { v.tx = 0; v.ty = 0; }
      drawBase(which); present(which);
    }, { passive: false });
  }
  function status(i) {
    const f = (v, d) => (isFinite(v) ? v.toFixed(d) : "-");
    $("map-status").textContent = "#" + S.col.id[i] + " · " + f(S.col.start[i] / 1000, 2) + " s · " + f(S.col.dur[i], 0) + " ms · power " + f(S.col.power[i], 2) + (S.col.hz[i] > 0 ? " · " + f(S.col.hz[i], 1) + " Hz" : " · unpitched");
  }
  async function click(which, ev) {
    const i = hit(which, ev);
    if (i < 0) return;
    if (ev.shiftKey) { collect(i); return; }
    S.selected = i;
    present("tsne"); present("grid");
    if (audio.ctx && audio.ctx.state === "running") { audio.last.delete(i); trigger(i, ev.timeStamp); }
    const info = await sm.getJSON("/api/samples/" + S.col.id[i]);
    $("info").hidden = false;
    $("info-title").textContent = info.file;
    $("info-body").textContent = "at " + (info.start / 1000).toFixed(3) + " s for " + Math.round(info.dur) + " ms · " + (info.note !== "-" ? info.note + " (" + info.hz.toFixed(1) + " Hz)" : "unpitched") + " · power " + info.power.toFixed(3) + " · clarity " + info.clarity.toFixed(2) + (info.item ? " · item " + info.item : "");
    $("open-file").href = info.file_url;
    const arch = $("open-archive");
    if (info.archive_url) { arch.href = info.archive_url; arch.hidden = false; } else arch.hidden = true;
    $("info").dataset.index = i;
    $("info").dataset.context = info.context;
  }
  function collect(i) {
    if (S.collected.includes(i) || S.collected.length >= PACK_MOST) return;
    S.collected.push(i);
    renderCollected();
    present("tsne"); present("grid");
  }
  function renderCollected() {
    const ol = $("collected");
    ol.textContent = "";
    for (const i of S.collected) {
      const li = document.createElement("li");
      li.textContent = "#" + S.col.id[i] + " " + (S.col.start[i] / 1000).toFixed(2) + " s";
      const x = document.createElement("button"); x.className = "small"; x.textContent = "×";
      x.addEventListener("click", () => { S.collected = S.collected.filter((k) => k !== i); renderCollected(); present("tsne"); present("grid"); });
      li.appendChild(x); ol.appendChild(li);
    }
    $("collected-count").textContent = S.collected.length;
    $("download-pack").disabled = !S.collected.length;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const box = $("maps");
    try {
      const r = await fetch(box.dataset.points);
      if (!r.ok) throw new Error("points: " + r.status);
      const buf = await r.arrayBuffer();
      stats.payloadBytes = buf.byteLength;
      parse(buf);
      computeColours();
      redraw();
      performance.mark("map-first-draw");
      stats.firstDrawMs = performance.now();
      stats.points = S.n;
      stats.ready = true;
      $("map-status").textContent = S.n + " samples · " + (S.gw ? S.gw + "×" + S.gh + " grid" : "no grid");
    } catch (e) {
      $("map-status").textContent = "cannot draw the map: " + e.message;
      stats.error = String(e);
      return;
    }
    bind("tsne"); bind("grid");
    $("sound").addEventListener("click", soundOn);
    $("colour").addEventListener("change", (e) => { S.colourKey = e.target.value; computeColours(); redraw(); });
    for (const id of ["filter-feature", "filter-lo", "filter-hi"]) $(id).addEventListener("input", () => {
      const shown = applyFilter(); redraw(); $("map-status").textContent = shown + " of " + S.n + " samples pass the filter";
    });
    $("cap").addEventListener("input", (e) => { $("cap-ms").textContent = e.target.value; });
    $("reset-view").addEventListener("click", () => { for (const v of Object.values(S.views)) { v.k = 1; v.tx = 0; v.ty = 0; } redraw(); });
    $("collect").addEventListener("click", () => { const i = parseInt($("info").dataset.index, 10); if (i >= 0) collect(i); });
    $("play-context").addEventListener("click", () => {
      const p = $("context-player"); p.src = $("info").dataset.context; stats.contextRequested = (stats.contextRequested || 0) + 1;
      p.play().then(() => { stats.contextPlayed = (stats.contextPlayed || 0) + 1; }).catch(() => {});
    });
    $("download-pack").addEventListener("click", () => {
      const ids = S.collected.map((i) => S.col.id[i]).join(",");
      location.href = "/pack.zip?ids=" + ids;
    });
    $("clear-pack").addEventListener("click", () => { S.collected = []; renderCollected(); present("tsne"); present("grid"); });
    window.addEventListener("resize", redraw);
  });
})();
