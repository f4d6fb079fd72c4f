#!/usr/bin/env python3
"""Writes the small seed inputs of fuzz/corpus/ (safetensors and torch.save-style .pth). The .pth seeds use a
stand-in `torch` module so the pickles have the exact shape torch.save writes, without needing PyTorch."""
import collections, io, json, os, pickle, struct, sys, types, zipfile

here = os.path.dirname(os.path.abspath(__file__))

def safetensors(tensors):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
def _rebuild_tensor_v2(*a): pass
def _rebuild_parameter(*a): pass
_rebuild_tensor_v2.__module__ = _rebuild_parameter.__module__ = "torch._utils"
utils._rebuild_tensor_v2, utils._rebuild_parameter = _rebuild_tensor_v2, _rebuild_parameter
for n in ("FloatStorage", "HalfStorage"):
    setattr(torch, n, type(n, (), {"__module__": "torch"}))
sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

class Storage:
    def __init__(self, key, stype, numel): self.key, self.stype, self.numel = key, stype, numel
class Tensor:
    def __init__(self, st, off, size, stride, param=False): self.a = (st, off, size, stride); self.param = param
    def __reduce__(self):
        t = (_rebuild_tensor_v2, self.a + (False, collections.OrderedDict()))
        if not self.param: return t
        inner = Tensor(*self.a); return (_rebuild_parameter, (inner, True, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ("storage", getattr(torch, obj.stype), obj.key, "cpu", obj.numel)
        return None

def pth(obj, storages, proto=2, deflate=False):
    b = io.BytesIO(); P(b, protocol=proto).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b.getvalue())
        z.writestr("archive/byteorder", "little")
        for k, raw in storages.items(): z.writestr("archive/data/" + k, raw)
        z.writestr("archive/version", "3\n")
    return out.getvalue()

def main():
    f = struct.pack("<6f", 1, 2, 3, 4, 5, 6); h = struct.pack("<4H", 0x3c00, 0xc000, 1, 0x7c00)
    st = {"a.json": {"w": ("F32", [2, 3], f), "h": ("F16", [4], h), "u": ("U8", [3], b"\x00\x7f\xff")},
          "b.json": {"x": ("BF16", [1, 2], b"\x80\x3f\x40\xc0"), "i": ("I64", [1], struct.pack("<q", -5))}}
    for name, t in st.items():
        open(os.path.join(here, "corpus/safetensors", name.replace(".json", ".safetensors")), "wb").write(safetensors(t))
    s0, s1 = Storage("0", "FloatStorage", 6), Storage("1", "HalfStorage", 4)
    sd = collections.OrderedDict([("image_encoder.blocks.0.norm1.weight", Tensor(s0, 0, (2, 3), (3, 1), True)),
                                  ("image_encoder.neck.0.weight", Tensor(s0, 0, (3, 2), (1, 3))),
                                  ("mask_decoder.iou_prediction_head.layers.1.bias", Tensor(s0, 4, (2,), (1,))),
                                  ("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", Tensor(s1, 0, (2, 2), (2, 1)))])
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("image_encoder", {"version": 1})])  # -> BUILD
    raw = {"0": f, "1": h}
    open(os.path.join(here, "corpus/pth/p2.pth"), "wb").write(pth(sd, raw))
    open(os.path.join(here, "corpus/pth/p4_deflate.pth"), "wb").write(pth({"model": sd, "epoch": 3}, raw, 4, True))

main()
