// segagent's web page: open an image, click, see the mask; or let the agent annotate from a description.
// Plain JavaScript, no build step. Talks to the server's native JSON API (docs/server.md):
//   POST /api/images (raw bytes) -> id;  POST /api/images/ID/predict {clicks, format: "rle"} -> COCO RLE
//   POST /api/images/ID/agent {description} -> server-sent events (start, step..., done)
// State: the clicks (with undo/redo stacks of click lists), the current mask (row-major 0/1) and its RLE.
// window.segagent.state() exposes it for the browser test.
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const st = {
  id: null, width: 0, height: 0, clicks: [], undo: [], redo: [],
  mask: null, rle: null, score: null, busy: false, seq: 0, answered: 0, name: "image",
};

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// pycocotools' compressed RLE string -> counts (rleFrString), then column-major runs -> row-major mask.
// Arithmetic instead of 32-bit shifts: a count may need 7 groups of 5 bits.
function rleDecode(s, h, w) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = true, scale = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++; k++;
      if (!more && (c & 0x10)) x -= scale;
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  const m = new Uint8Array(h * w);
  let pos = 0, v = 0;
  for (const c of counts) {
    if (v) for (let i = pos; i < pos + c && i < h * w; i++) m[(i % h) * w + Math.floor(i / h)] = 1;
    pos += c;
    v ^= 1;
  }
  return m;
}

function draw() {
  const ov = $("overlay"), ctx = ov.getContext("2d");
  const img = ctx.createImageData(st.width, st.height);
  const a = Math.round(255 * $("opacity").value / 100);
  if (st.mask) {
    for (let i = 0; i < st.mask.length; i++) {
      if (!st.mask[i]) continue;
      img.data[4 * i] = 30; img.data[4 * i + 1] = 144; img.data[4 * i + 2] = 255; img.data[4 * i + 3] = a;
    }
  }
  ctx.putImageData(img, 0, 0);
  const r = Math.max(3, Math.round(Math.min(st.width, st.height) / 120));
  for (const c of st.clicks) {
    ctx.beginPath();
    ctx.arc(c.x + 0.5, c.y + 0.5, r, 0, 2 * Math.PI);
    ctx.fillStyle = c.positive ? "#3fb950" : "#f85149";
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
  $("undo").disabled = !st.undo.length || st.busy;
  $("redo").disabled = !st.redo.length || st.busy;
  $("reset").disabled = !st.clicks.length || st.busy;
  $("save-png").disabled = $("save-coco").disabled = !st.mask;
  $("agent").disabled = !st.id || st.busy;
}

function setMask(rle) {
  st.rle = rle;
  st.mask = rle ? rleDecode(rle.counts, rle.size[0], rle.size[1]) : null;
}

async function predict() {
  const seq = ++st.seq;
  if (!st.clicks.length) { setMask(null); st.score = null; st.answered = seq; draw(); return; }
  const t0 = performance.now();
  const res = await fetch(`/api/images/${st.id}/predict`, {
    method: "POST", headers: headers({"Content-Type": "application/json"}),
    body: JSON.stringify({clicks: st.clicks, format: "rle"}),
  });
  const body = await res.json();
  if (seq !== st.seq) return; // a newer click answered first
  const ms = performance.now() - t0;
  st.answered = seq;
  if (!res.ok) { status(`predict: ${body.error || res.status}`, true); return; }
  setMask(body.rle);
  st.score = body.score;
  $("latency").textContent = `${ms.toFixed(0)} ms (tool ${body.tool_ms.toFixed(0)} ms)`;
  status(`${st.clicks.length} click(s), ${body.area} pixels` + (body.score != null ? `, score ${body.score.toFixed(3)}` : ""));
  draw();
}

function change(clicks) {
  st.undo.push(st.clicks);
  st.redo = [];
  st.clicks = clicks;
  draw();
  return predict();
}

async function openFile(file) {
  if (!file) return;
  status(`uploading ${file.name} ...`);
  const res = await fetch("/api/images", {
    method: "POST", headers: headers({"Content-Type": file.type || "application/octet-stream"}), body: file,
  });
  const body = await res.json();
  if (!res.ok) { status(`upload: ${body.error || res.status}`, true); return; }
  const bmp = await createImageBitmap(file);
  Object.assign(st, {id: body.id, width: body.width, height: body.height, clicks: [], undo: [], redo: [],
                     mask: null, rle: null, name: file.name.replace(/\.[^.]*$/, "")});
  for (const c of [$("image"), $("overlay")]) { c.width = st.width; c.height = st.height; }
  fit();
  $("image").getContext("2d").drawImage(bmp, 0, 0);
  $("drop").hidden = true;
  $("view").hidden = false;
  status(`${file.name}: ${st.width}x${st.height}, tool ${body.tool}. Click on the object.`);
  draw();
}

// Shows the image as large as the window allows (small images scaled up, large ones down).
function fit() {
  if (!st.width) return;
  const k = Math.min((window.innerWidth - 24) / st.width, (window.innerHeight * 0.75) / st.height);
  $("image").style.width = Math.floor(st.width * k) + "px";
  $("image").style.height = Math.floor(st.height * k) + "px";
}
window.addEventListener("resize", fit);

function pixelOf(ev) {
  const r = $("overlay").getBoundingClientRect();
  const x = Math.floor((ev.clientX - r.left) / r.width * st.width);
  const y = Math.floor((ev.clientY - r.top) / r.height * st.height);
  return {x: Math.min(Math.max(x, 0), st.width - 1), y: Math.min(Math.max(y, 0), st.height - 1)};
}

$("overlay").addEventListener("mousedown", (ev) => {
  if (!st.id || st.busy || (ev.button !== 0 && ev.button !== 2)) return;
  ev.preventDefault();
  const p = pixelOf(ev);
  change(st.clicks.concat([{x: p.x, y: p.y, positive: ev.button === 0 && !ev.shiftKey}]));
});
$("overlay").addEventListener("contextmenu", (ev) => ev.preventDefault());
$("undo").onclick = () => { if (st.undo.length) { st.redo.push(st.clicks); st.clicks = st.undo.pop(); draw(); predict(); } };
$("redo").onclick = () => { if (st.redo.length) { st.undo.push(st.clicks); st.clicks = st.redo.pop(); draw(); predict(); } };
$("reset").onclick = () => change([]);
$("opacity").oninput = draw;
$("file").onchange = (ev) => openFile(ev.target.files[0]);
document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey && ev.key === "z") $("undo").click();
  if (ev.ctrlKey && ev.key === "y") $("redo").click();
});
const stage = $("stage");
stage.addEventListener("dragover", (ev) => { ev.preventDefault(); stage.classList.add("dragging"); });
stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
stage.addEventListener("drop", (ev) => {
  ev.preventDefault();
  stage.classList.remove("dragging");
  openFile(ev.dataTransfer.files[0]);
});

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

$("save-png").onclick = () => {
  const c = document.createElement("canvas");
  c.width = st.width; c.height = st.height;
  const ctx = c.getContext("2d"), img = ctx.createImageData(st.width, st.height);
  for (let i = 0; i < st.mask.length; i++) {
    const v = st.mask[i] ? 255 : 0;
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  c.toBlob((b) => download(`${st.name}_mask.png`, b), "image/png");
};

function bbox() {
  let x0 = st.width, y0 = st.height, x1 = -1, y1 = -1, area = 0;
  for (let y = 0; y < st.height; y++)
    for (let x = 0; x < st.width; x++)
      if (st.mask[y * st.width + x]) {
        area++;
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
  return {area, bbox: area ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0]};
}

$("save-coco").onclick = () => {
  const b = bbox();
  const coco = {
    images: [{id: 1, file_name: st.name, width: st.width, height: st.height}],
    categories: [{id: 1, name: $("description").value || "object"}],
    annotations: [{id: 1, image_id: 1, category_id: 1, iscrowd: 0, segmentation: st.rle, area: b.area, bbox: b.bbox}],
  };
  download(`${st.name}_coco.json`, new Blob([JSON.stringify(coco, null, 1)], {type: "application/json"}));
};

// The agent: read the event stream as it arrives, show each step, then hand the clicks to the person.
$("agent").onclick = async () => {
  const description = $("description").value.trim();
  if (!description) { status("write a description first", true); return; }
  st.busy = true;
  draw();
  $("agent-status").textContent = "starting ...";
  const clicks = [];
  const t0 = performance.now();
  try {
    const res = await fetch(`/api/images/${st.id}/agent`, {
      method: "POST", headers: headers({"Content-Type": "application/json"}),
      body: JSON.stringify({description, steps: 7}),
    });
    if (!res.ok) { const b = await res.json(); throw new Error(b.error || res.status); }
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const ev = /^event: (.*)$/m.exec(block), data = /^data: (.*)$/m.exec(block);
        if (!ev || !data) continue;
        const d = JSON.parse(data[1]);
        if (ev[1] === "step") {
          if (d.action && d.action.x !== undefined) clicks.push({x: d.action.x, y: d.action.y, positive: d.action.positive});
          st.clicks = clicks.slice();
          setMask(d.rle);
          $("agent-status").textContent = `step ${d.index}` + (d.pred_iou_before != null ? `, predicted IoU ${d.pred_iou_before.toFixed(2)}` : "");
          $("latency").textContent = `${d.ms.toFixed(0)} ms per step`;
          draw();
        } else if (ev[1] === "done") {
          if (d.rle) setMask(d.rle);
          $("agent-status").textContent = `done (${d.stop}) in ${((performance.now() - t0) / 1000).toFixed(1)} s` + (d.error ? `: ${d.error}` : "");
        }
      }
    }
    st.undo.push([]);
    st.redo = [];
    status(`agent: ${clicks.length} click(s); correct with more clicks`);
  } catch (e) {
    $("agent-status").textContent = "";
    status(`agent: ${e.message}`, true);
  }
  st.busy = false;
  draw();
};

window.segagent = {
  // for tests: the page's current state, the mask as base64 of row-major 0/1 bytes
  state() {
    let bin = "";
    if (st.mask) for (let i = 0; i < st.mask.length; i++) bin += String.fromCharCode(st.mask[i]);
    return {id: st.id, width: st.width, height: st.height, clicks: st.clicks, mask: st.mask ? btoa(bin) : null,
            requests: st.seq, answered: st.answered};
  },
};
