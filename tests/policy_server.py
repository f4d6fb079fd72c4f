#!/usr/bin/env python3
"""A scripted policy server for the tests: speaks the OpenAI chat-completions API on 127.0.0.1.

Standard library only. Started by the C tests (fork/exec) as
    python3 tests/policy_server.py --gt GT.png [--image PHOTO.png] [--port 0]
It prints "PORT <n>" on stdout once listening, and serves until killed.

The model name in each request picks the behaviour:
  annotator[-iou][-comma][-xy][-float]   decode the overlay (PNG only), play the simulated annotator of
                                         docs/annotator.md against --gt and answer in SegAgent's grammar;
                                         -iou prefixes "Current IOU: <true IoU*100>", -comma uses ", " as
                                         separator, -xy writes (x, y), -float writes decimals in [0, 1)
  fixed                                  "Positive point: (500, 500)" without looking at the image (any format)
  auth                                   like fixed, but HTTP 401 unless "Authorization: Bearer sekrit"
  parts                                  like fixed, the content given as an array of text parts
  malformed                              text that is no action
  escape                                 text that is no action, with terminal escape sequences (ESC, BEL, CR,
                                         the C1 control U+009B)
  range                                  coordinates out of range
  http500                                always HTTP 500
  die-after-N                            like annotator-iou for N requests, then HTTP 503 for good
  flaky                                  HTTP 500 on odd-numbered requests, normal annotator otherwise
  slow                                   sleeps 3 s, then answers like "fixed"
  no-n                                   HTTP 400 when n > 1, else like annotator-iou
  ignore-n                               one choice whatever n is, else like annotator-iou
  drop                                   closes the connection without an answer
  nonjson                                200 with an HTML body
  nochoices                              200 with "choices": []
  huge                                   200 with a 2 MB body
  hash                                   after 40 ms, "Current IOU: <v>" and a positive or negative point, all
                                         taken from a CRC of the image sent: a deterministic walk on any image
                                         (same state, same reply), with predicted IoUs for the PRM columns
  anything else                          HTTP 404 "model not found"
With n > 1 the annotator answers candidates in reverse order: choice n-1 is the annotator's click, the others
are deliberately bad clicks; a single request with seed s answers candidate s (0 = the annotator's click).
A prompt mentioning "bounding box" gets the ground-truth box as "<box>(x1,y1),(x2,y2)</box>" (0..1000, x first).
The overlay pixels are told apart from the image because the test images keep green below 127: a masked pixel
is floor((p + 255) / 2) >= 127 in the green channel. With --image (the photo as PNG) any photo works: a pixel
is masked when it equals floor((photo + green) / 2) and differs from the photo.
"""
import base64
import json
import math
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QWEN_PROMPT_HEAD = ("Please optimize the semi-transparent green mask in a point-wise manner based on the image "
                    "and description content, so that it covers the target object as accurately as possible. "
                    "The object description is as follows:<ref>")

GT = None  # (w, h, list of 0/1)
ORIG = None  # (w, h, channels, bytes) of the photo when --image is given
COUNTERS = {}
LOCK = threading.Lock()


def png_decode(data):
    """Returns (w, h, channels, bytes) for 8-bit grey/RGB/RGBA/grey-alpha non-interlaced PNGs."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        pos += 12 + ln
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            if depth != 8 or inter != 0 or ctype not in (0, 2, 4, 6):
                raise ValueError("unsupported PNG")
            ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
        elif typ == b"IDAT":
            idat += body
        elif typ == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * ch
    out = bytearray(h * stride)
    prev = bytearray(stride)
    p = 0
    for y in range(h):
        f = raw[p]
        line = bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, ch, bytes(out)


def dt1d(f):
    """Felzenszwalb squared distance transform of a 1-D sampled function (exact)."""
    n = len(f)
    d = [0.0] * n
    v = [0] * n
    z = [0.0] * (n + 1)
    k = 0
    z[0], z[1] = -math.inf, math.inf
    for q in range(1, n):
        while True:
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k])
            if s <= z[k]:
                k -= 1
                continue
            break
        k += 1
        v[k] = q
        z[k] = s
        z[k + 1] = math.inf
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        d[q] = (q - v[k]) ** 2 + f[v[k]]
    return d


def edt_sq(m, w, h):
    """Squared distance of every set pixel to the nearest unset pixel, the image border counting as unset."""
    W, H = w + 2, h + 2
    INF = 1e20
    g = [[0.0] * W for _ in range(H)]
    for y in range(h):
        for x in range(w):
            if m[y * w + x]:
                g[y + 1][x + 1] = INF
    for y in range(H):
        g[y] = dt1d(g[y])
    for x in range(W):
        col = dt1d([g[y][x] for y in range(H)])
        for y in range(H):
            g[y][x] = col[y]
    return [int(round(g[y + 1][x + 1])) for y in range(h) for x in range(w)]


def annotator_click(pred, w, h):
    gw, gh, gt = GT
    fn = [1 if gt[i] and not pred[i] else 0 for i in range(w * h)]
    fp = [1 if (not gt[i]) and pred[i] else 0 for i in range(w * h)]
    dfn, dfp = edt_sq(fn, w, h), edt_sq(fp, w, h)
    mfn, mfp = max(dfn), max(dfp)
    if mfn == 0 and mfp == 0:
        return None
    pos = mfn > mfp
    d, m = (dfn, mfn) if pos else (dfp, mfp)
    i = d.index(m)
    return (i // w, i % w, pos)


def bad_clicks(w, h):
    """Clicks that make things worse: positive far in the background, negative deep inside the object."""
    gw, gh, gt = GT
    dbg = edt_sq([0 if v else 1 for v in gt], w, h)
    dob = edt_sq(gt, w, h)
    i, j = dbg.index(max(dbg)), dob.index(max(dob))
    return [(i // w, i % w, True), (j // w, j % w, False)]


def fmt_value(p, size, floats):
    if floats:
        for dec in range(3, 10):
            s = "%.*f" % (dec, p / size)
            if min(size - 1, max(0, math.floor(float(s) * size + 0.5))) == p:
                return s
        return repr(p / size)
    v0 = min(999, math.floor(p * 1000 / size + 0.5))
    best = None
    for v in range(1000):
        if min(size - 1, (v * size + 500) // 1000) == p:
            if best is None or abs(v - p * 1000 / size) < abs(best - p * 1000 / size):
                best = v
    return str(best if best is not None else v0)


def fmt_click(c, w, h, xy, floats):
    y, x, pos = c
    ys, xs = fmt_value(y, h, floats), fmt_value(x, w, floats)
    a, b = (xs, ys) if xy else (ys, xs)
    return "%s point: (%s, %s)" % ("Positive" if pos else "Negative", a, b)


def true_iou(pred):
    gt = GT[2]
    inter = sum(1 for i in range(len(gt)) if gt[i] and pred[i])
    uni = sum(1 for i in range(len(gt)) if gt[i] or pred[i])
    return 1.0 if uni == 0 else inter / uni


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        ln = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(ln)
        try:
            req = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "request body is not JSON"}})
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "no route " + self.path}})
        model = req.get("model", "")
        n = int(req.get("n", 1))
        seed = req.get("seed")
        with LOCK:
            COUNTERS[model] = COUNTERS.get(model, 0) + 1
            count = COUNTERS[model]
        base = model
        if base == "flaky":
            if count % 2 == 1:
                return self.send_json(500, {"error": {"message": "flaky: try again"}})
            base = "annotator"
        if base.startswith("die-after-"):
            if count > int(base.split("-")[2]):
                return self.send_json(503, {"error": {"message": "server went away"}})
            base = "annotator-iou"
        if base == "auth":
            if self.headers.get("Authorization") != "Bearer sekrit":
                return self.send_json(401, {"error": {"message": "missing or wrong API key"}})
            base = "fixed"
        if base == "parts":
            base = "fixed"
        if base == "http500":
            return self.send_json(500, {"error": {"message": "internal error"}})
        if base == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if base == "nonjson":
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if base == "nochoices":
            return self.send_json(200, {"id": "x", "choices": []})
        if base == "huge":
            return self.send_json(200, {"choices": [{"message": {"content": "x" * (2 << 20)}}]})
        if base == "no-n":
            if n > 1:
                return self.send_json(400, {"error": {"message": "n > 1 is not supported"}})
            base = "annotator-iou"
        if base == "ignore-n":
            n = 1
            base = "annotator-iou"
        if base == "slow":
            time.sleep(3)
            base = "fixed"
        texts = None
        if base == "fixed":
            texts = ["Positive point: (500, 500)"] * n
        elif base == "malformed":
            texts = ["I am not sure where to click."] * n
        elif base == "escape":
            texts = ["\x1b]0;pwned\x07\x1b[2J\rno \u009b click\x1b[0m"] * n
        elif base == "range":
            texts = ["Positive point: (1500, -20)"] * n
        elif base == "iou-huge":  # a number past the double range, then one above 100
            texts = ["Current IOU: 1e309\nPositive point: (500, 500)", "Current IOU: 250\nPositive point: (500, 500)"][:n]
        elif base == "hash":
            time.sleep(0.04)
            url = [p for p in req["messages"][-1]["content"] if p["type"] == "image_url"][0]["image_url"]["url"]
            h = zlib.crc32(url.encode())
            kind = "Negative" if h % 4 == 3 else "Positive"
            texts = ["Current IOU: %d\n%s point: (%d, %d)" % (h % 101, kind, (h >> 8) % 1000, (h >> 18) % 1000)] * n
        elif base.startswith("annotator"):
            try:
                texts = self.annotate(req, base, n, seed)
            except Exception as e:  # a malformed request from the client is a test failure: say why
                return self.send_json(400, {"error": {"message": "bad request: %s" % e}})
        else:
            return self.send_json(404, {"error": {"message": "The model `%s` does not exist." % model}})
        if model == "parts":  # content as an array of text parts, split mid-action
            return self.send_json(200, {"choices": [{"index": i, "message": {"role": "assistant", "content": [
                {"type": "text", "text": t[:9]}, {"type": "text", "text": t[9:]}]}} for i, t in enumerate(texts)]})
        return self.send_json(200, {"id": "chatcmpl-test", "object": "chat.completion", "model": model,
                                    "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                                                 "finish_reason": "stop"} for i, t in enumerate(texts)]})

    def annotate(self, req, base, n, seed):
        msgs = req["messages"]
        user = msgs[-1]
        assert user["role"] == "user"
        parts = user["content"]
        url = [p for p in parts if p["type"] == "image_url"][0]["image_url"]["url"]
        text = [p for p in parts if p["type"] == "text"][0]["text"]
        head, b64 = url.split(",", 1)
        assert head == "data:image/png;base64", "overlay must be sent as PNG for the scripted server"
        w, h, ch, px = png_decode(base64.b64decode(b64))
        gw, gh, _ = GT
        assert (w, h) == (gw, gh), "image %dx%d, gt %dx%d" % (w, h, gw, gh)
        if "bounding box" in text:
            gt = GT[2]
            ys = [i // w for i in range(w * h) if gt[i]]
            xs = [i % w for i in range(w * h) if gt[i]]
            b = (fmt_value(min(xs), w, False), fmt_value(min(ys), h, False),
                 fmt_value(max(xs), w, False), fmt_value(max(ys), h, False))
            return ["<ref>object</ref><box>(%s,%s),(%s,%s)</box>" % b]
        assert text.startswith(QWEN_PROMPT_HEAD) and text.endswith("</ref>"), "not the SegAgent-Qwen prompt"
        assert msgs[0]["role"] == "system" and msgs[0]["content"] == "You are a helpful assistant."
        if ORIG is not None:  # exact: a pixel is masked iff it equals floor((photo + green) / 2)
            ow, oh, och, opx = ORIG
            assert (ow, oh) == (w, h) and och >= 3 and ch >= 3
            col = (0, 255, 0)
            pred = [0] * (w * h)
            for i in range(w * h):
                o, q = opx[i * och:i * och + 3], px[i * ch:i * ch + 3]
                if q != o and all(q[c] == (o[c] + col[c]) >> 1 for c in range(3)):
                    pred[i] = 1
        else:
            pred = [1 if px[i * ch + 1] >= 127 else 0 for i in range(w * h)]
        xy, floats = "-xy" in base, "-float" in base
        prefix = ""
        if "-iou" in base:
            prefix = "Current IOU: %d%s" % (int(math.floor(true_iou(pred) * 100 + 0.5)),
                                              ", " if "-comma" in base else "\n")
        c = annotator_click(pred, w, h)
        if c is None:  # nothing to fix: no action, the way the in-process annotator ends the episode
            return [prefix + "The mask already covers the object."] * n
        cands = [c] + bad_clicks(w, h)
        if n > 1:
            lst = [cands[i] if i < len(cands) else cands[1 + (i - 1) % (len(cands) - 1)] for i in range(n)]
            order = lst[::-1]  # the annotator's click comes last
        else:
            order = [cands[int(seed) % len(cands)] if seed is not None else cands[0]]
        return [prefix + fmt_click(o, w, h, xy, floats) for o in order]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up (timeouts, the "drop" mode) are expected here


def main():
    global GT, ORIG
    port, gt_path = 0, None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--port":
            port = int(args.pop(0))
        elif a == "--gt":
            gt_path = args.pop(0)
        elif a == "--image":
            with open(args.pop(0), "rb") as f:
                ORIG = png_decode(f.read())
    if gt_path:
        with open(gt_path, "rb") as f:
            w, h, ch, px = png_decode(f.read())
        GT = (w, h, [1 if px[i * ch] else 0 for i in range(w * h)])
    srv = QuietServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
