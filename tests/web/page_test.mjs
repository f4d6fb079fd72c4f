// Drives segagent's web page in a real headless Chromium over the DevTools protocol (Node's own WebSocket; no
// npm packages): loads the page, uploads an image through the file input, clicks on the overlay (left =
// positive, right = negative) at given image pixels, waits for each answer, takes a screenshot, and prints the
// page's state (clicks and the mask it holds) as one JSON line on stdout.
//   node --experimental-websocket tests/web/page_test.mjs --url http://127.0.0.1:PORT/ --image scene.png \
//        --clicks 16,24,1;50,24,1;5,5,0 --screenshot out.png [--chromium /usr/bin/chromium]
// With --describe TEXT it then types TEXT into the description box, presses "Let the agent annotate" and waits
// for the stream to end (the clicks and mask printed are then the agent's).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const chromium = args.chromium || "/usr/bin/chromium";
const clicks = (args.clicks || "").split(";").filter(Boolean).map((c) => c.split(",").map(Number));
const deadline = Date.now() + 60000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fail(msg) {
  console.error("page_test: " + msg);
  cleanup();
  process.exit(1);
}

const profile = mkdtempSync(join(tmpdir(), "segagent-chromium-"));
const browser = spawn(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", `--user-data-dir=${profile}`, "--remote-debugging-port=0",
  "--window-size=900,700", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
function cleanup() {
  try { browser.kill("SIGKILL"); } catch (e) { /* already gone */ }
  try { rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
}

const wsUrl = await new Promise((resolve, reject) => {
  let err = "";
  const t = setTimeout(() => reject(new Error("Chromium did not start: " + err.slice(-500))), 30000);
  browser.stderr.on("data", (d) => {
    err += d;
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
    if (m) { clearTimeout(t); resolve(m[1]); }
  });
  browser.on("exit", (code) => reject(new Error(`Chromium exited (${code}): ${err.slice(-500)}`)));
}).catch((e) => fail(e.message));

const base = wsUrl.replace(/^ws:/, "http:").replace(/\/devtools\/browser\/.*$/, "");
let page = null;
for (let i = 0; i < 50 && !page; i++) {
  const list = await (await fetch(base + "/json/list")).json();
  page = list.find((t) => t.type === "page");
  if (!page) await sleep(100);
}
if (!page) fail("no page target");

const ws = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((r, j) => { ws.onopen = r; ws.onerror = () => j(new Error("DevTools socket error")); })
  .catch((e) => fail(e.message));
let nextId = 1;
const pending = new Map(), waiters = [];
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
  } else if (msg.method) {
    for (const w of waiters.splice(0)) if (w.method === msg.method) w.resolve(msg.params); else waiters.push(w);
  }
};
const send = (method, params = {}) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  ws.send(JSON.stringify({ id, method, params }));
});
const once = (method) => new Promise((resolve) => waiters.push({ method, resolve }));
async function evaluate(expr) {
  const r = await send("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error("page error: " + JSON.stringify(r.exceptionDetails).slice(0, 400));
  return r.result.value;
}
async function until(what, fn) {
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  fail("timed out waiting for " + what);
}

try {
  await send("Page.enable");
  await send("Runtime.enable");
  const loaded = once("Page.loadEventFired");
  await send("Page.navigate", { url: args.url });
  await loaded;
  const doc = await send("DOM.getDocument");
  const input = await send("DOM.querySelector", { nodeId: doc.root.nodeId, selector: "#file" });
  await send("DOM.setFileInputFiles", { nodeId: input.nodeId, files: [args.image] });
  await until("the upload", () => evaluate("window.segagent.state().id"));
  await until("the image on screen", () => evaluate("!document.getElementById('view').hidden"));
  for (const [px, py, positive] of clicks) {
    const r = await evaluate(`(() => { const b = document.getElementById('overlay').getBoundingClientRect();
      const s = window.segagent.state(); return {l: b.left, t: b.top, w: b.width, h: b.height, iw: s.width, ih: s.height}; })()`);
    const x = r.l + (px + 0.5) * r.w / r.iw, y = r.t + (py + 0.5) * r.h / r.ih;
    const button = positive ? "left" : "right";
    const before = await evaluate("window.segagent.state().requests");
    await send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
    await send("Input.dispatchMouseEvent", { type: "mousePressed", x, y, button, buttons: positive ? 1 : 2, clickCount: 1 });
    await send("Input.dispatchMouseEvent", { type: "mouseReleased", x, y, button, clickCount: 1 });
    await until("the answer to a click", async () => {
      const s = await evaluate("window.segagent.state()");
      return s.requests > before && s.answered === s.requests;
    });
  }
  if (args.describe) {
    await evaluate(`document.getElementById('description').value = ${JSON.stringify(args.describe)}`);
    await evaluate("document.getElementById('agent').click()");
    await until("the agent's end", () => evaluate("document.getElementById('agent-status').textContent.startsWith('done')"));
    await until("the page to settle", () => evaluate("!document.getElementById('agent').disabled"));
  }
  const state = await evaluate("window.segagent.state()");
  state.agent = await evaluate("document.getElementById('agent-status').textContent");
  const latency = await evaluate("document.getElementById('latency').textContent");
  const shot = await send("Page.captureScreenshot", { format: "png" });
  if (args.screenshot) writeFileSync(args.screenshot, Buffer.from(shot.data, "base64"));
  console.log(JSON.stringify({ ...state, latency }));
} catch (e) {
  fail(e.message);
}
ws.close();
cleanup();
process.exit(0);
