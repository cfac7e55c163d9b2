// The review page of `hyper-sapiens review` (hyper_sapiens/review/static/review.js): plain JavaScript, no library.
// Coordinates are frame pixels of the original recording, pixel centres at integers, as in keypoints.json.
// Frame t covers the time interval [t / fps, (t + 1) / fps); stepping seeks to its middle, (t + 0.5) / fps.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const video = $("video"), img = $("frame"), overlay = $("overlay"), stage = $("stage");
  const ctx = overlay.getContext("2d");
  const timeline = $("timeline"), tctx = timeline.getContext("2d");
  const COLOURS = { left: "#2f6fd0", right: "#d9480f", centre: "#2b8a3e", review: "#1f9d55", faint: "rgba(255,255,255,.55)" };
  const HIT_PX = 12;   // a click within this many screen pixels of a joint grabs it

  const S = {
    clip: null, W: 1, H: 1, T: 1, fps: 30,
    frame: 0,            // the frame the page is on
    displayed: -1,       // the frame whose image is on screen (the skeleton drawn is always this frame's)
    track: "cleaned", playing: false, timer: null, selected: null,
    reviews: new Map(),  // frame -> [[x, y, v] x 17], as saved
    draft: null,         // {frame, kps} while a joint is dragged
    drag: null, flagged: [], mode: null, readOnly: null, pending: 0, queue: Promise.resolve(),
    presented: null, watching: false,   // the frame the browser last presented (requestVideoFrameCallback)
  };
  // For tests and the screenshot script: the state, what is drawn, and helpers.
  const api = window.hsReview = { state: S, drawn: null, ready: false, lastSave: null };

  // ------------------------------------------------------------------ helpers
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const round2 = (v) => Math.round(v * 100) / 100;
  function fmt(v) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  }
  function message(text, kind) {
    const box = $("message");
    if (!text) { box.hidden = true; return; }
    box.textContent = text; box.className = kind || ""; box.hidden = false;
  }
  function extent(values) {   // [min, max] of the numbers in a (long) array; [null, null] without one
    let lo = null, hi = null;
    for (const v of values) if (v !== null && v !== undefined) { if (lo === null || v < lo) lo = v; if (hi === null || v > hi) hi = v; }
    return [lo, hi];
  }
  const frameOfTime = (t) => clamp(Math.floor(t * S.fps + 1e-3), 0, S.T - 1);
  function jointColour(k) {
    const name = S.clip.joints[k];
    return name.startsWith("left") ? COLOURS.left : name.startsWith("right") ? COLOURS.right : COLOURS.centre;
  }
  function modelPoints(t) {
    const track = S.clip.tracks[S.track] || S.clip.tracks.cleaned;
    return track && track[t] ? track[t] : S.clip.joints.map(() => null);
  }
  function editPoints(t) {
    if (S.draft && S.draft.frame === t) return S.draft.kps;
    return S.reviews.get(t) || null;
  }
  const inFrame = (p) => p && p[0] >= 0 && p[1] >= 0 && p[0] <= S.W - 1 && p[1] <= S.H - 1;
  // The frame's review, or the model's track as the starting point (a joint missing or outside the frame: v=0).
  function editable(t) {
    const saved = S.reviews.get(t);
    if (saved) return saved.map((p) => p.slice());
    return modelPoints(t).map((p) => (inFrame(p) ? [round2(p[0]), round2(p[1]), 2] : [0, 0, 0]));
  }

  // ------------------------------------------------------------------ geometry: frame pixels <-> screen
  function box() { return overlay.getBoundingClientRect(); }
  function toScreen(x, y) {        // frame pixel -> canvas CSS pixel
    const r = box();
    return [(x + 0.5) * r.width / S.W, (y + 0.5) * r.height / S.H];
  }
  function toFrame(clientX, clientY) {
    const r = box();
    const x = (clientX - r.left) * S.W / r.width - 0.5, y = (clientY - r.top) * S.H / r.height - 0.5;
    return [round2(clamp(x, 0, S.W - 1)), round2(clamp(y, 0, S.H - 1))];
  }
  api.clientOf = (x, y) => { const r = box(); const [cx, cy] = toScreen(x, y); return [r.left + cx, r.top + cy]; };

  function layout() {
    const avail = $("viewer").clientWidth, maxH = Math.max(200, window.innerHeight * 0.68);
    const w = Math.min(avail, maxH * S.W / S.H);
    stage.style.width = `${w}px`;
    stage.style.height = `${w * S.H / S.W}px`;
    const dpr = window.devicePixelRatio || 1;
    overlay.width = Math.round(w * dpr);
    overlay.height = Math.round(w * S.H / S.W * dpr);
    buildTimeline();
    buildTrajectories();
    draw();
  }

  // ------------------------------------------------------------------ drawing the skeleton
  function drawSkeleton(points, style) {
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const shown = (p) => p && (p.length < 3 || p[2] > 0);
    ctx.lineCap = "round";
    for (const [a, b] of S.clip.bones) {
      const p = points[a], q = points[b];
      if (!shown(p) || !shown(q)) continue;
      const [x0, y0] = toScreen(p[0], p[1]), [x1, y1] = toScreen(q[0], q[1]);
      ctx.strokeStyle = style === "faint" ? COLOURS.faint : style === "review" ? COLOURS.review : jointColour(b);
      ctx.lineWidth = style === "faint" ? 1.5 : 3;
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    }
    points.forEach((p, k) => {
      if (!shown(p)) return;
      const [x, y] = toScreen(p[0], p[1]);
      ctx.beginPath(); ctx.arc(x, y, style === "faint" ? 2.5 : 4.5, 0, 2 * Math.PI);
      const colour = style === "faint" ? COLOURS.faint : style === "review" ? COLOURS.review : jointColour(k);
      if (p.length >= 3 && p[2] === 1) {   // labelled but hidden: hollow
        ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.stroke();
      } else {
        ctx.fillStyle = colour; ctx.fill();
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
      }
    });
  }

  function draw() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const t = S.displayed;
    if (!S.clip || t < 0) return;
    const dpr = window.devicePixelRatio || 1;
    const model = modelPoints(t), edit = editPoints(t);
    if (S.clip.extras && S.clip.extras.flagged[t]) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 4 * dpr;
      ctx.strokeRect(0, 0, overlay.width, overlay.height);
    }
    drawSkeleton(model, edit ? "faint" : "model");
    if (edit) drawSkeleton(edit, "review");
    const source = edit || model;
    if (S.selected !== null && source[S.selected] && (source[S.selected].length < 3 || source[S.selected][2] > 0)) {
      const [x, y] = toScreen(source[S.selected][0], source[S.selected][1]);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.strokeStyle = "#ffd43b"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(x, y, 9, 0, 2 * Math.PI); ctx.stroke();
    }
    api.drawn = {
      frame: t, track: S.track,
      model: model.map((p) => (p ? [p[0], p[1]] : null)),
      review: edit ? edit.map((p) => p.slice()) : null,
    };
    overlay.dataset.frame = String(t);
    overlay.dataset.drawn = JSON.stringify(api.drawn);
    drawTimeline();
    drawTrajectories();
  }

  // ------------------------------------------------------------------ moving through the clip
  function updatePosition() {
    const t = S.frame, flags = [];
    if (S.clip.extras && S.clip.extras.flagged[t]) flags.push("flagged");
    if (S.reviews.has(t)) flags.push("reviewed");
    $("position").textContent = `frame ${t} / ${S.T - 1} · ${(t / S.fps).toFixed(3)} s` +
      (flags.length ? ` · ${flags.join(", ")}` : "");
    $("frame-state").textContent = S.reviews.has(t) ? "(reviewed: green)" : "(model)";
    document.body.dataset.frame = String(t);
  }

  function goTo(t) {
    t = clamp(Math.round(t), 0, S.T - 1);
    S.frame = t; S.draft = null; S.drag = null;
    if (S.mode === "video") {
      const target = (t + 0.5) / S.fps;
      if (!video.seeking && Math.abs(video.currentTime - target) < 1e-6) {
        S.displayed = frameOfTime(video.currentTime); draw();
      } else {
        video.currentTime = target;
      }
    } else {
      showFrame(t);
    }
    updatePosition(); renderJoints(); draw();
    history.replaceState(null, "", `#frame=${t}`);
  }
  api.goTo = goTo;
  api.settled = () => S.displayed === S.frame && !(S.mode === "video" && video.seeking) && S.pending === 0;

  function frameUrl(t) {
    return S.clip.media.url + S.clip.media.pattern.replace("{frame:06d}", String(t).padStart(6, "0"));
  }
  function showFrame(t) {
    if (img.dataset.frame === String(t) && img.complete && img.naturalWidth) {
      S.displayed = t; draw(); return;
    }
    img.dataset.pending = String(t);
    img.src = frameUrl(t);
  }
  img.addEventListener("load", () => {
    const t = Number(img.dataset.pending);
    img.dataset.frame = String(t);
    S.displayed = t; draw(); updatePosition();
    for (let i = 1; i <= 3 && t + i < S.T; i++) new Image().src = frameUrl(t + i);   // preload
  });
  img.addEventListener("error", () => message(`cannot load frame image ${img.src}`));
  video.addEventListener("seeked", () => {
    if (S.playing) return;
    S.displayed = frameOfTime(video.currentTime); draw(); updatePosition(); renderJoints();
  });
  video.addEventListener("error", () => {
    message(`This browser cannot play the recording (codec ${S.clip ? S.clip.media.codec : "?"}). Restart with ` +
      "`hyper-sapiens review CLIP_FOLDER --frames` to see extracted frames instead.");
  });
  video.addEventListener("ended", () => { if (S.playing) pause(); });

  function onVideoFrame(time) {
    const t = frameOfTime(time);
    S.frame = S.displayed = t; draw(); updatePosition();
  }
  // The frame the browser actually presents: requestVideoFrameCallback gives its timestamp (the start of its
  // interval). While playing it drives the skeleton; when paused it corrects the page if the picture on screen is
  // not the frame currentTime points into (Chromium can keep the last frame played after a pause and a seek).
  function watchPresented() {
    if (!("requestVideoFrameCallback" in video)) return false;
    const cb = (now, meta) => {
      const t = clamp(Math.round(meta.mediaTime * S.fps), 0, S.T - 1);
      S.presented = t;
      if (S.playing || (!video.seeking && t !== S.displayed)) {
        S.frame = S.displayed = t; draw(); updatePosition(); renderJoints();
      }
      video.requestVideoFrameCallback(cb);
    };
    video.requestVideoFrameCallback(cb);
    return true;
  }
  function play() {
    if (S.playing || !S.clip) return;
    S.playing = true; S.draft = null; S.drag = null; $("play").textContent = "pause";
    if (S.mode === "video") {
      if (S.frame >= S.T - 1) video.currentTime = 0.5 / S.fps;
      video.play().catch((err) => { S.playing = false; $("play").textContent = "play"; message(`cannot play: ${err.message}`); });
      if (!S.watching) {
        const tick = () => { if (!S.playing) return; onVideoFrame(video.currentTime); requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
      }
    } else {
      S.timer = setInterval(() => {
        if (S.displayed !== S.frame) return;          // wait for the image before moving on
        if (S.frame >= S.T - 1) { pause(); return; }
        S.frame += 1; showFrame(S.frame); updatePosition();
      }, 1000 / S.fps);
    }
  }
  function pause() {
    if (!S.playing) return;
    S.playing = false; $("play").textContent = "play";
    if (S.mode === "video") {
      video.pause();
      // settle on the middle of the frame on screen
      goTo(S.watching && S.presented !== null ? S.presented : frameOfTime(video.currentTime));
    } else {
      clearInterval(S.timer); S.timer = null; goTo(S.frame);
    }
  }
  const togglePlay = () => (S.playing ? pause() : play());
  function step(d) { if (S.playing) pause(); goTo(S.frame + d); }
  function nextFlagged(direction) {
    if (S.playing) pause();
    const list = S.flagged;
    if (!list.length) { message("no flagged frame in this clip (flags need the video verb's --prior)", "info"); return; }
    const t = direction > 0 ? list.find((f) => f > S.frame) : [...list].reverse().find((f) => f < S.frame);
    goTo(t === undefined ? (direction > 0 ? list[0] : list[list.length - 1]) : t);
  }

  // ------------------------------------------------------------------ corrections
  function commit(t, kps) {
    if (S.readOnly) { message(`corrections are off: ${S.readOnly}`, "info"); S.draft = null; draw(); return; }
    const before = S.reviews.get(t);
    if (kps) S.reviews.set(t, kps.map((p) => p.slice())); else S.reviews.delete(t);
    S.draft = null; S.pending += 1;
    $("saved").textContent = "saving…";
    afterReviewChange();
    const body = JSON.stringify({ frame: t, keypoints: kps ? kps.map((p) => [round2(p[0]), round2(p[1]), p[2]]) : null });
    S.queue = S.queue.then(async () => {
      try {
        const r = await fetch("api/review", { method: "POST", headers: { "Content-Type": "application/json" }, body });
        const answer = await r.json().catch(() => ({}));
        if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
        if (answer.keypoints) S.reviews.set(t, answer.keypoints); else S.reviews.delete(t);
        api.lastSave = answer;
        $("saved").textContent = `saved frame ${t} · ${answer.reviewed} reviewed`;
        message("");
      } catch (err) {
        if (before) S.reviews.set(t, before); else S.reviews.delete(t);
        $("saved").textContent = "not saved";
        message(`frame ${t} not saved: ${err.message}`);
      } finally {
        S.pending -= 1; afterReviewChange();
      }
    });
  }
  function afterReviewChange() { renderJoints(); updatePosition(); buildTrajectories(); draw(); }
  function accept() { if (S.playing) pause(); commit(S.frame, editable(S.frame)); }
  function unreview() { if (S.playing) pause(); if (S.reviews.has(S.frame)) commit(S.frame, null); }
  function cycleVisibility(k) {
    const t = S.frame, kps = editable(t), p = kps[k];
    if (p[2] === 2) p[2] = 1;
    else if (p[2] === 1) kps[k] = [0, 0, 0];
    else {
      const m = modelPoints(t)[k];
      kps[k] = inFrame(m) ? [round2(m[0]), round2(m[1]), 2] : [Math.floor(S.W / 2), Math.floor(S.H / 2), 2];
    }
    commit(t, kps);
  }
  function hit(clientX, clientY) {
    const points = editPoints(S.frame) || modelPoints(S.frame), r = box();
    let best = null, bestD = HIT_PX;
    points.forEach((p, k) => {
      if (!p || (p.length >= 3 && p[2] === 0)) return;
      const [x, y] = toScreen(p[0], p[1]);
      const d = Math.hypot(r.left + x - clientX, r.top + y - clientY);
      if (d <= bestD) { best = k; bestD = d; }
    });
    return best;
  }
  overlay.addEventListener("mousedown", (e) => {
    if (e.button !== 0 || !S.clip) return;
    e.preventDefault(); overlay.focus();
    if (S.playing) { pause(); return; }
    if (S.displayed !== S.frame) return;       // the frame is still being fetched
    const t = S.frame, k = hit(e.clientX, e.clientY);
    if (k !== null) {
      S.selected = k; S.drag = { k, frame: t, moved: false }; S.draft = { frame: t, kps: editable(t) };
      renderJoints(); draw(); return;
    }
    if (S.selected !== null) {                 // place a joint that is not labelled
      const kps = editable(t);
      if (kps[S.selected][2] === 0) { const [x, y] = toFrame(e.clientX, e.clientY); kps[S.selected] = [x, y, 2]; commit(t, kps); }
    }
  });
  window.addEventListener("mousemove", (e) => {
    if (!S.drag) return;
    const [x, y] = toFrame(e.clientX, e.clientY), p = S.draft.kps[S.drag.k];
    p[0] = x; p[1] = y; if (p[2] === 0) p[2] = 2;
    S.drag.moved = true; draw();
  });
  window.addEventListener("mouseup", () => {
    if (!S.drag) return;
    const d = S.drag; S.drag = null;
    if (d.moved) commit(d.frame, S.draft.kps); else { S.draft = null; draw(); }
  });
  overlay.addEventListener("contextmenu", (e) => {
    e.preventDefault();
    if (S.playing) { pause(); return; }
    const k = hit(e.clientX, e.clientY);
    if (k !== null) { S.selected = k; cycleVisibility(k); }
  });

  // ------------------------------------------------------------------ the joint list
  function renderJoints() {
    if (!S.clip) return;
    const list = $("joints"), edit = editPoints(S.frame), model = modelPoints(S.frame);
    if (!list.children.length) {
      S.clip.joints.forEach((name, k) => {
        const li = document.createElement("li");
        li.innerHTML = '<span class="n"></span><span class="v"></span>';
        li.querySelector(".n").textContent = name;
        li.addEventListener("click", () => { S.selected = k; renderJoints(); draw(); overlay.focus(); });
        list.appendChild(li);
      });
    }
    [...list.children].forEach((li, k) => {
      let text, missing = false;
      if (edit) {
        const p = edit[k];
        text = p[2] === 0 ? "not labelled" : `${p[2] === 1 ? "hidden " : ""}${p[0].toFixed(1)}, ${p[1].toFixed(1)}`;
        missing = p[2] === 0;
      } else {
        const p = model[k];
        text = p ? `${p[0].toFixed(1)}, ${p[1].toFixed(1)}` : "missing";
        missing = !p;
      }
      li.querySelector(".v").textContent = text;
      li.classList.toggle("selected", k === S.selected);
      li.classList.toggle("missing", missing);
    });
  }

  // ------------------------------------------------------------------ timeline
  let timelineBg = null;
  function buildTimeline() {
    if (!S.clip) return;
    const dpr = window.devicePixelRatio || 1, w = timeline.clientWidth, h = timeline.clientHeight;
    timeline.width = Math.round(w * dpr); timeline.height = Math.round(h * dpr);
    const bg = document.createElement("canvas"); bg.width = timeline.width; bg.height = timeline.height;
    const g = bg.getContext("2d"); g.scale(dpr, dpr);
    const T = S.T, X = (t) => (t + 0.5) / T * w, ex = S.clip.extras;
    const lane = (top, height, values, maxV, colour, threshold) => {
      g.strokeStyle = "#e6e9ec"; g.strokeRect(0.5, top + 0.5, w - 1, height);
      if (threshold !== undefined && threshold !== null && maxV > 0) {
        const y = top + height - threshold / maxV * height;
        g.setLineDash([4, 3]); g.strokeStyle = "#d62728"; g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke(); g.setLineDash([]);
      }
      g.strokeStyle = colour; g.lineWidth = 1.2; g.beginPath();
      let pen = false;
      values.forEach((v, t) => {
        if (v === null || v === undefined || !(maxV > 0)) { pen = false; return; }
        const y = top + height - clamp(v / maxV, 0, 1) * height;
        if (pen) g.lineTo(X(t), y); else g.moveTo(X(t), y);
        pen = true;
      });
      g.stroke();
    };
    if (ex) {
      const maxP = Math.max(extent(ex.plausibility)[1] || 0, (S.clip.threshold || 0) * 1.25);
      lane(2, 46, ex.plausibility, maxP, "#2f6fd0", S.clip.threshold);
    }
    lane(52, 30, S.clip.frame_scores || [], 1, "#7a7f86");
    if (ex) {
      const bits = (m) => { let n = 0; while (m) { n += m & 1; m >>>= 1; } return n; };
      for (let t = 0; t < T; t++) {
        const x0 = t / T * w, dx = Math.max(1, w / T);
        if (ex.flagged[t]) { g.fillStyle = "#d62728"; g.fillRect(x0, 86, dx, 8); }
        if (ex.gap[t]) { g.fillStyle = `rgba(120,130,140,${0.25 + 0.75 * bits(ex.gap[t]) / 17})`; g.fillRect(x0, 96, dx, 7); }
        if (ex.outlier[t]) { g.fillStyle = "#f28e1c"; g.fillRect(x0, 105, dx, 6); }
      }
    }
    timelineBg = bg;
  }
  function drawTimeline() {
    if (!timelineBg) return;
    const dpr = window.devicePixelRatio || 1, w = timeline.clientWidth, T = S.T;
    tctx.setTransform(1, 0, 0, 1, 0, 0);
    tctx.clearRect(0, 0, timeline.width, timeline.height);
    tctx.drawImage(timelineBg, 0, 0);
    tctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    tctx.fillStyle = "#1f9d55";
    for (const t of S.reviews.keys()) tctx.fillRect(t / T * w, 112, Math.max(1, w / T), 6);
    const x = (S.frame + 0.5) / T * w;
    tctx.strokeStyle = "#111"; tctx.lineWidth = 1.5;
    tctx.beginPath(); tctx.moveTo(x, 0); tctx.lineTo(x, timeline.clientHeight); tctx.stroke();
  }
  const frameAt = (canvas, e) => { const r = canvas.getBoundingClientRect(); return Math.floor((e.clientX - r.left) / r.width * S.T); };
  timeline.addEventListener("click", (e) => { if (S.playing) pause(); goTo(frameAt(timeline, e)); });

  // ------------------------------------------------------------------ trajectories
  let rows = [];
  function buildTrajectories() {
    if (!S.clip) return;
    const holder = $("trajectories");
    if (!holder.children.length) {
      rows = S.clip.joints.map((name) => {
        const label = document.createElement("div"); label.className = "name"; label.textContent = name;
        const canvas = document.createElement("canvas");
        canvas.addEventListener("click", (e) => { if (S.playing) pause(); goTo(frameAt(canvas, e)); });
        holder.append(label, canvas);
        return { canvas, label, bg: null };
      });
    }
    const track = S.clip.tracks[S.track] || S.clip.tracks.cleaned || [];
    const dpr = window.devicePixelRatio || 1, T = S.T, ex = S.clip.extras;
    rows.forEach((row, k) => {
      const c = row.canvas, w = c.clientWidth, h = c.clientHeight;
      if (!w || !h) return;
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
      const bg = document.createElement("canvas"); bg.width = c.width; bg.height = c.height;
      const g = bg.getContext("2d"); g.scale(dpr, dpr);
      const xs = [], ys = [];
      for (let t = 0; t < T; t++) { const p = track[t] && track[t][k]; if (p) { xs.push(p[0]); ys.push(p[1]); } }
      for (const [t, kps] of S.reviews) if (kps[k][2] > 0) { xs.push(kps[k][0]); ys.push(kps[k][1]); }
      const range = (v) => { let [lo, hi] = extent(v); if (lo === null) return [0, 1]; if (hi - lo < 1) { lo -= 0.5; hi += 0.5; } return [lo, hi]; };
      const [x0, x1] = range(xs), [y0, y1] = range(ys);
      row.label.title = `x ${x0.toFixed(0)}–${x1.toFixed(0)} px, y ${y0.toFixed(0)}–${y1.toFixed(0)} px`;
      const X = (t) => (t + 0.5) / T * w, Y = (v, lo, hi) => h - 3 - (v - lo) / (hi - lo) * (h - 6);
      if (ex) for (let t = 0; t < T; t++) {
        if (ex.gap[t] & (1 << k)) { g.fillStyle = "rgba(150,160,170,.35)"; g.fillRect(t / T * w, 0, Math.max(1, w / T), h); }
        if (ex.outlier[t] & (1 << k)) { g.fillStyle = "#f28e1c"; g.fillRect(t / T * w, h - 4, Math.max(1.5, w / T), 4); }
      }
      for (const [i, colour, lo, hi] of [[0, "#2f6fd0", x0, x1], [1, "#f28e1c", y0, y1]]) {
        g.strokeStyle = colour; g.lineWidth = 1.2; g.beginPath();
        let pen = false;
        for (let t = 0; t < T; t++) {
          const p = track[t] && track[t][k];
          if (!p) { pen = false; continue; }
          const y = Y(p[i], lo, hi);
          if (pen) g.lineTo(X(t), y); else g.moveTo(X(t), y);
          pen = true;
        }
        g.stroke();
        g.fillStyle = "#1f9d55";
        for (const [t, kps] of S.reviews) if (kps[k][2] > 0) { g.beginPath(); g.arc(X(t), Y(kps[k][i], lo, hi), 2.5, 0, 2 * Math.PI); g.fill(); }
      }
      row.bg = bg;
    });
  }
  function drawTrajectories() {
    const dpr = window.devicePixelRatio || 1;
    for (const row of rows) {
      if (!row.bg) continue;
      const c = row.canvas, g = c.getContext("2d");
      g.setTransform(1, 0, 0, 1, 0, 0); g.clearRect(0, 0, c.width, c.height); g.drawImage(row.bg, 0, 0);
      const x = (S.frame + 0.5) / S.T * c.width;
      g.strokeStyle = "#111"; g.lineWidth = dpr; g.beginPath(); g.moveTo(x, 0); g.lineTo(x, c.height); g.stroke();
    }
  }

  // ------------------------------------------------------------------ features
  function table(headers, body) {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const h of headers) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    const tb = t.createTBody();
    for (const cells of body) { const r = tb.insertRow(); for (const c of cells) r.insertCell().textContent = c; }
    return t;
  }
  function buildFeatures() {
    const f = S.clip.features || {}, u = f.units || {}, holder = $("features");
    holder.textContent = "";
    const unit = (key, fallback) => u[key] || fallback;
    holder.appendChild(table(["clip", "value", "unit"], [
      ["frames", fmt(f.frames), "frames"],
      ["frame rate", fmt(f.fps), unit("fps", "frames/s")],
      ["duration", fmt(f.duration_s), unit("duration_s", "s")],
      ["torso length", fmt(f.torso_length_px), unit("torso_length_px", "px")],
      ["moving threshold", fmt(f.moving_threshold), unit("moving_threshold", "torso lengths/s")],
      ["limbs moving", fmt(f.limbs_share_moving), unit("share_moving", "fraction")],
      ["implausible frames", fmt(f.share_implausible), unit("share_implausible", "fraction")],
      ["G-Error", fmt(f.g_error), unit("g_error", "dimensionless")],
    ]));
    const sym = f.symmetry || {};
    holder.appendChild(table(["symmetry", `speed correlation (${unit("speed_correlation", "r")})`,
      `mean speed ratio (${unit("mean_speed_ratio", "left / right")})`],
    Object.entries(sym).map(([k, v]) => [k, fmt(v && v.speed_correlation), fmt(v && v.mean_speed_ratio)])));
    const joints = f.joints || {};
    holder.appendChild(table(
      ["joint", `speed mean (${unit("speed", "px/s")})`, "speed p95", `acceleration mean (${unit("acceleration", "px/s^2")})`,
        `range (${unit("range_px", "px")})`, `range (${unit("range_torso", "torso lengths")})`,
        `moving (${unit("share_moving", "fraction")})`, "present (fraction of frames)"],
      S.clip.joints.map((name) => {
        const j = joints[name] || {}, sp = j.speed || {}, ac = j.acceleration || {};
        return [name, fmt(sp.mean), fmt(sp.p95), fmt(ac.mean), fmt(j.range_px), fmt(j.range_torso),
          fmt(j.share_moving), fmt(j.present)];
      })));
  }

  // ------------------------------------------------------------------ keys and buttons
  document.addEventListener("keydown", (e) => {
    if (!S.clip || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && t.tagName === "INPUT" && t.type !== "radio") return;
    switch (e.key) {
      case " ": togglePlay(); break;
      case "ArrowRight": step(e.shiftKey ? 10 : 1); break;
      case "ArrowLeft": step(e.shiftKey ? -10 : -1); break;
      case "n": nextFlagged(1); break;
      case "p": case "N": nextFlagged(-1); break;
      case "a": accept(); break;
      case "v": if (S.selected !== null) { if (S.playing) pause(); cycleVisibility(S.selected); } break;
      case "Delete": case "Backspace": unreview(); break;
      case "[": S.selected = ((S.selected === null ? 0 : S.selected) + 16) % 17; renderJoints(); draw(); break;
      case "]": S.selected = ((S.selected === null ? -1 : S.selected) + 1) % 17; renderJoints(); draw(); break;
      case "1": setTrack("raw"); break;
      case "2": setTrack("cleaned"); break;
      case "3": setTrack("corrected"); break;
      default: return;
    }
    e.preventDefault();
  });
  for (const b of document.querySelectorAll("button")) b.addEventListener("mousedown", (e) => e.preventDefault());
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("play").addEventListener("click", togglePlay);
  $("next-flagged").addEventListener("click", () => nextFlagged(1));
  $("accept").addEventListener("click", accept);
  $("unreview").addEventListener("click", unreview);
  function setTrack(name) {
    if (!S.clip.tracks[name]) { message(`this clip has no ${name} track`, "info"); return; }
    S.track = name;
    for (const r of document.querySelectorAll('input[name="track"]')) r.checked = r.value === name;
    buildTrajectories(); renderJoints(); draw();
  }
  for (const r of document.querySelectorAll('input[name="track"]')) {
    r.addEventListener("change", () => { setTrack(r.value); r.blur(); });
  }
  window.addEventListener("resize", () => { if (S.clip) layout(); });

  // ------------------------------------------------------------------ start
  async function init() {
    let data;
    try {
      const r = await fetch("api/clip");
      data = await r.json();
      if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
    } catch (err) {
      message(`cannot load the clip: ${err.message}`); return;
    }
    const clip = S.clip = data.clip;
    S.W = clip.width; S.H = clip.height; S.T = clip.frames; S.fps = clip.fps;
    for (const [t, kps] of Object.entries(data.reviews)) S.reviews.set(Number(t), kps);
    S.flagged = clip.extras ? clip.extras.flagged.flatMap((f, t) => (f ? [t] : [])) : [];
    S.readOnly = clip.media.read_only;
    document.title = `${clip.name} · Hyper-Sapiens review`;
    $("title").textContent = `${clip.name} · ${clip.width}×${clip.height} px · ${fmt(clip.fps)} frames/s`;
    for (const r of document.querySelectorAll('input[name="track"]')) r.disabled = !clip.tracks[r.value];
    if (!clip.tracks.cleaned) S.track = Object.keys(clip.tracks)[0];
    S.mode = clip.media.kind;
    if (S.mode === "video") {
      video.hidden = false;
      const loaded = new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
      video.src = clip.media.url;
      await loaded;
      S.watching = watchPresented();
    } else {
      img.hidden = false;
    }
    if (S.readOnly) message(`Corrections are off: ${S.readOnly}`, "info");
    else if (clip.media.note) message(clip.media.note, "info");
    buildFeatures();
    layout();
    renderJoints();
    const m = /frame=(\d+)/.exec(location.hash);
    goTo(m ? Number(m[1]) : 0);
    api.ready = true;
    document.body.dataset.ready = "1";
  }
  init();
})();
