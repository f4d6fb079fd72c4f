/* .pth reader: PyTorch's torch.save zip format, read without executing anything.
 *
 * The archive holds "<archive>/data.pkl" (a pickle of the state_dict), "<archive>/data/<key>" (one
 * raw, little-endian storage per key) and "<archive>/version" (maybe "byteorder"). The zip reader
 * walks the central directory (zip64 fields included: official vit_h checkpoints are 2.5 GB) and
 * serves stored entries straight from the mapped file; deflated entries are inflated once with zlib
 * into owned blocks. A zip bomb costs nothing: before an entry is touched its sizes are checked
 * against each other (central directory, local header, the deflate ratio) and against what the
 * caller needs -- data.pkl at most SA__WEIGHTS_MAX_HEADER bytes, a storage exactly the bytes its
 * elements take -- and inflation writes into a block of exactly the declared size, never more.
 *
 * The pickle is run on a deliberately tiny virtual machine: only the opcodes a state_dict needs,
 * and only four kinds of GLOBAL (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter[_with_state]
 * and the typed storage classes); any other global is refused by name. Nothing is "called": REDUCE
 * on an allowed global builds the value it would have produced (an empty dict, a tensor view
 * description). Persistent ids name the storages. Tensor views are checked against their storage
 * and copied only when not contiguous.
 *
 * The SimpleClick profile (SA_PTH_SIMPLECLICK) accepts exactly the six globals SimpleClick's
 * save_checkpoint writes: OrderedDict, _rebuild_tensor_v2 and FloatStorage for the state_dict, and
 * inside `config` only builtins' set and the loss module's CrossEntropyLoss class and cross_entropy
 * function. Those three become inert values (NEWOBJ of the class makes an object whose BUILD state
 * is dropped); the `config` dict is handed back as JSON (sa_weights_config_json).
 *
 * The plain profile (sa__pickle_to_json, unpickle.h) is the same VM for data pickles such as
 * RefCOCO's refs(unc).p: no global at all is allowed, so only containers and scalars come out, and
 * it also takes what Python 2 writes (protocol 0/1 text opcodes INT, LONG, FLOAT, STRING, UNICODE,
 * PUT, GET) and Python 3's bytes and set opcodes. The result is handed back as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "weights/unpickle.h"
#include "weights/weights_impl.h"

#define MAX_OBJECTS (1u << 22)
#define MAX_MEMO (1u << 22)
#define PROFILE_PLAIN 2 /* containers and scalars only: no global is allowed */

/* ------------------------------------------------------------------ zip */

typedef struct zentry {
    const char *name; /* into the buffer, not NUL-terminated */
    size_t nlen;
    uint64_t lho, csize, usize;
    int method, flags;
    const uint8_t *data; /* resolved payload (NULL until asked) */
} zentry;

typedef struct zip {
    const uint8_t *buf;
    size_t n;
    zentry *e;
    size_t ne;
    const char *what;
} zip;

static uint32_t rd16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const uint8_t *p) {
    return rd16(p) | rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int zcmp(const void *a, const void *b) {
    const zentry *x = a, *y = b;
    size_t m = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, m);
    if (c) return c;
    return (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

static int zip_open(zip *z, const uint8_t *buf, size_t n, const char *what, sa_error *err) {
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->n = n;
    z->what = what;
    if (n < 22) return sa_error_set(err, SA_ERR_FORMAT, "%s: truncated zip (%zu bytes)", what, n);
    size_t eocd = SIZE_MAX;
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;)
        if (rd32(buf + p) == 0x06054b50u) {
            eocd = p;
            break;
        }
    if (eocd == SIZE_MAX)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: no zip end-of-central-directory record (truncated?)", what);
    uint64_t count = rd16(buf + eocd + 10), cdsize = rd32(buf + eocd + 12),
             cdoff = rd32(buf + eocd + 16);
    if (eocd >= 20 && rd32(buf + eocd - 20) == 0x07064b50u) {
        uint64_t z64 = rd64(buf + eocd - 20 + 8);
        if (z64 > n || n - z64 < 56 || rd32(buf + z64) != 0x06064b50u)
            return sa_error_set(err, SA_ERR_FORMAT, "%s: bad zip64 end-of-central-directory record",
                                what);
        count = rd64(buf + z64 + 32);
        cdsize = rd64(buf + z64 + 40);
        cdoff = rd64(buf + z64 + 48);
    }
    if (cdoff > n || cdsize > n - cdoff)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip central directory (offset %llu, %llu bytes) beyond the file",
                            what, (unsigned long long)cdoff, (unsigned long long)cdsize);
    if (count > cdsize / 46)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip claims %llu entries in a %llu-byte directory", what,
                            (unsigned long long)count, (unsigned long long)cdsize);
    z->e = calloc(count ? (size_t)count : 1, sizeof *z->e);
    if (!z->e) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    const uint8_t *p = buf + cdoff, *end = buf + cdoff + cdsize;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50u)
            return sa_error_set(err, SA_ERR_FORMAT,
                                "%s: zip central directory entry %llu is malformed", what,
                                (unsigned long long)i);
        zentry *e = &z->e[z->ne];
        e->flags = (int)rd16(p + 8);
        e->method = (int)rd16(p + 10);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        size_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
        e->lho = rd32(p + 42);
        if ((size_t)(end - p) - 46 < nlen + xlen + clen)
            return sa_error_set(err, SA_ERR_FORMAT,
                                "%s: zip central directory entry %llu runs past its end", what,
                                (unsigned long long)i);
        e->name = (const char *)p + 46;
        e->nlen = nlen;
        /* zip64 extended information: present fields follow in a fixed order, only for the
         * saturated ones */
        const uint8_t *x = p + 46 + nlen, *xe = x + xlen;
        while (xe - x >= 4) {
            uint32_t id = rd16(x), sz = rd16(x + 2);
            if ((size_t)(xe - x) - 4 < sz) break;
            if (id == 1) {
                const uint8_t *f = x + 4, *fe = x + 4 + sz;
                uint64_t *slots[3] = {&e->usize, &e->csize, &e->lho};
                for (int k = 0; k < 3; k++) {
                    if (*slots[k] != 0xffffffffu) continue;
                    if (fe - f < 8)
                        return sa_error_set(err, SA_ERR_FORMAT,
                                            "%s: zip64 extra field of entry %llu too short", what,
                                            (unsigned long long)i);
                    *slots[k] = rd64(f);
                    f += 8;
                }
            }
            x += 4 + sz;
        }
        z->ne++;
        p += 46 + nlen + xlen + clen;
    }
    qsort(z->e, z->ne, sizeof *z->e, zcmp);
    return SA_OK;
}

static zentry *zip_find(zip *z, const char *name, size_t nlen) {
    zentry key;
    key.name = name;
    key.nlen = nlen;
    return bsearch(&key, z->e, z->ne, sizeof *z->e, zcmp);
}

/* The entry's own sizes against each other and the file, before anything is allocated: the payload
 * inside the file, the local header repeating the central directory's sizes, a stored entry's two
 * sizes equal, a deflated one's within deflate's ratio. *src receives the payload. */
static int zip_check(const zip *z, const zentry *e, const uint8_t **src, sa_error *err) {
    const int nl = e->nlen > 200 ? 200 : (int)e->nlen;
    if (e->flags & 1)
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: zip entry '%.*s' is encrypted", z->what,
                            nl, e->name);
    if (e->lho > z->n || z->n - e->lho < 30 || rd32(z->buf + e->lho) != 0x04034b50u)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip entry '%.*s': local header beyond the file or malformed",
                            z->what, nl, e->name);
    uint64_t start = e->lho + 30 + rd16(z->buf + e->lho + 26) + rd16(z->buf + e->lho + 28);
    if (start > z->n || e->csize > z->n - start)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip entry '%.*s' (%llu bytes) extends beyond the file", z->what,
                            nl, e->name, (unsigned long long)e->csize);
    /* without a data descriptor (flag 8) the local header repeats the sizes; saturated fields are
     * zip64's, given in its extra field */
    uint32_t lcs = rd32(z->buf + e->lho + 18), lus = rd32(z->buf + e->lho + 22);
    if (!(e->flags & 8) && lcs != 0xffffffffu && lus != 0xffffffffu &&
        (lcs != e->csize || lus != e->usize))
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip entry '%.*s': local header sizes (%u, %u bytes) differ from "
                            "the central directory's (%llu, %llu)",
                            z->what, nl, e->name, lcs, lus, (unsigned long long)e->csize,
                            (unsigned long long)e->usize);
    if (e->usize > SIZE_MAX / 2)
        return sa_error_set(err, SA_ERR_RANGE, "%s: zip entry '%.*s' too large", z->what, nl,
                            e->name);
    if (e->method == 0 && e->csize != e->usize)
        return sa_error_set(err, SA_ERR_RANGE, "%s: stored zip entry '%.*s' has mismatched sizes",
                            z->what, nl, e->name);
    /* deflate expands at most ~1032:1; a larger claim is a lie (and a memory bomb) */
    if (e->method == 8 && e->usize / 1032 > e->csize + 1)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: zip entry '%.*s' claims an impossible size",
                            z->what, nl, e->name);
    if (e->method != 0 && e->method != 8)
        return sa_error_set(err, SA_ERR_UNSUPPORTED,
                            "%s: zip entry '%.*s' uses compression method %d", z->what, nl, e->name,
                            e->method);
    *src = z->buf + start;
    return SA_OK;
}

/* Payload of an entry: stored bytes in place, or inflated into a block owned by w. Every size is
 * checked first (zip_check, then the caller's bound max_bytes); inflation fills a block of exactly
 * the declared size and fails on any more. */
static int zip_data(zip *z, zentry *e, sa_weights *w, uint64_t max_bytes, const uint8_t **out,
                    size_t *len, sa_error *err) {
    if (e->data) {
        *out = e->data;
        *len = (size_t)e->usize;
        return SA_OK;
    }
    const int nl = e->nlen > 200 ? 200 : (int)e->nlen;
    const uint8_t *src = NULL;
    int zc = zip_check(z, e, &src, err);
    if (zc != SA_OK) return zc;
    if (e->usize > max_bytes)
        return sa_error_set(
            err, SA_ERR_RANGE, "%s: zip entry '%.*s' declares %llu bytes, over the %llu-byte limit",
            z->what, nl, e->name, (unsigned long long)e->usize, (unsigned long long)max_bytes);
    if (e->method == 0) {
        e->data = src;
    } else {
        size_t un = (size_t)e->usize;
        uint8_t *dst = malloc(un ? un : 1);
        if (!dst)
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory inflating '%.*s'", z->what,
                                nl, e->name);
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -15) != Z_OK) {
            free(dst);
            return sa_error_set(err, SA_ERR_NOMEM, "%s: zlib init failed", z->what);
        }
        uint64_t in_left = e->csize, out_done = 0;
        const uint8_t *in = src;
        int zr = Z_OK;
        while (zr == Z_OK) {
            uInt cin = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
            uint64_t out_left = un - out_done;
            uInt cout = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
            s.next_in = (Bytef *)(uintptr_t)in;
            s.avail_in = cin;
            s.next_out = dst + out_done;
            s.avail_out = cout;
            zr = inflate(&s, Z_NO_FLUSH);
            in += cin - s.avail_in;
            in_left -= cin - s.avail_in;
            out_done += cout - s.avail_out;
            if (zr == Z_OK && cin == s.avail_in && cout == s.avail_out)
                zr = Z_BUF_ERROR; /* no progress */
        }
        inflateEnd(&s);
        if (zr != Z_STREAM_END || out_done != un) {
            free(dst);
            return sa_error_set(err, SA_ERR_FORMAT, "%s: zip entry '%.*s': corrupt deflate data",
                                z->what, nl, e->name);
        }
        int rc = sa__weights_keep(w, dst, un ? un : 1, 0, err);
        if (rc != SA_OK) return rc;
        e->data = dst;
    }
    *out = e->data;
    *len = (size_t)e->usize;
    return SA_OK;
}

/* ------------------------------------------------------------------ pickle values */

enum {
    PV_NONE,
    PV_BOOL,
    PV_INT,
    PV_FLOAT,
    PV_STR,
    PV_TUPLE,
    PV_LIST,
    PV_DICT,
    PV_GLOBAL,
    PV_STORAGE,
    PV_TENSOR,
    PV_SET,   /* a Python set (items) */
    PV_OBJECT /* an inert instance of an allowed class (s: its qualified name) */
};
enum {
    G_ORDERED_DICT,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_PARAMETER,
    G_STORAGE_TYPE,
    G_SET,
    G_CLASS,   /* a class that NEWOBJ may instantiate as an inert object */
    G_FUNCTION /* a function that is only referred to, never called */
};

typedef struct ptensor {
    struct pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[SA_TENSOR_MAX_DIMS], stride[SA_TENSOR_MAX_DIMS];
} ptensor;

typedef struct pv {
    int type;
    int glob;    /* PV_GLOBAL */
    sa_dtype dt; /* PV_GLOBAL storage type, PV_STORAGE */
    int64_t i;   /* PV_INT, PV_BOOL, PV_STORAGE numel */
    double f;    /* PV_FLOAT */
    char *s;     /* PV_STR (NUL-terminated copy), PV_STORAGE key */
    size_t slen;
    struct pv **items; /* PV_TUPLE, PV_LIST; PV_DICT as key, value pairs */
    size_t n, cap;
    ptensor *tn; /* PV_TENSOR */
} pv;

typedef struct vm {
    const char *what;
    int profile; /* SA_PTH_* */
    sa_error *err;
    pv **all;
    size_t nall, capall;
    pv **stack;
    size_t sp, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    pv **memo;
    size_t nmemo;
} vm;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return 0;
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

static pv *vm_new(vm *m, int type) {
    if (m->nall >= MAX_OBJECTS) {
        sa_error_set(m->err, SA_ERR_RANGE, "%s: pickle holds too many objects", m->what);
        return NULL;
    }
    if (!grow((void **)&m->all, &m->capall, m->nall + 1, sizeof *m->all)) {
        sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        return NULL;
    }
    pv *v = calloc(1, sizeof *v);
    if (!v) {
        sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        return NULL;
    }
    v->type = type;
    m->all[m->nall++] = v;
    return v;
}

static void vm_free(vm *m) {
    for (size_t i = 0; i < m->nall; i++) {
        free(m->all[i]->s);
        free(m->all[i]->items);
        free(m->all[i]->tn);
        free(m->all[i]);
    }
    free(m->all);
    free(m->stack);
    free(m->marks);
    free(m->memo);
}

static int push(vm *m, pv *v) {
    if (!v) return m->err ? m->err->code : SA_ERR_NOMEM;
    if (!grow((void **)&m->stack, &m->capstack, m->sp + 1, sizeof *m->stack))
        return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
    m->stack[m->sp++] = v;
    return SA_OK;
}

static int add_item(vm *m, pv *c, pv *v) {
    if (!grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items))
        return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
    c->items[c->n++] = v;
    return SA_OK;
}

/* Byte position of the opcode being run, for messages. */
#define BAD(...) sa_error_set(m->err, SA_ERR_FORMAT, __VA_ARGS__)

#define LOSS_MODULE "isegm.model.modeling.transformer_helper.cross_entropy_loss"
#define P_SD (1 << SA_PTH_STATE_DICT)
#define P_SC (1 << SA_PTH_SIMPLECLICK)
static const struct {
    const char *module, *name;
    int glob;
    sa_dtype dt;
    int profiles; /* P_* bits: the profiles that allow this global */
} k_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, SA_DTYPE_F32, P_SD | P_SC},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, SA_DTYPE_F32, P_SD | P_SC},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, SA_DTYPE_F32, P_SD},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER, SA_DTYPE_F32, P_SD},
    {"torch", "FloatStorage", G_STORAGE_TYPE, SA_DTYPE_F32, P_SD | P_SC},
    {"torch", "HalfStorage", G_STORAGE_TYPE, SA_DTYPE_F16, P_SD},
    {"torch", "BFloat16Storage", G_STORAGE_TYPE, SA_DTYPE_BF16, P_SD},
    {"torch", "DoubleStorage", G_STORAGE_TYPE, SA_DTYPE_F64, P_SD},
    {"torch", "ByteStorage", G_STORAGE_TYPE, SA_DTYPE_U8, P_SD},
    {"torch", "CharStorage", G_STORAGE_TYPE, SA_DTYPE_I8, P_SD},
    {"torch", "IntStorage", G_STORAGE_TYPE, SA_DTYPE_I32, P_SD},
    {"torch", "LongStorage", G_STORAGE_TYPE, SA_DTYPE_I64, P_SD},
    {"torch", "BoolStorage", G_STORAGE_TYPE, SA_DTYPE_BOOL, P_SD},
    {"__builtin__", "set", G_SET, SA_DTYPE_F32, P_SC},
    {LOSS_MODULE, "CrossEntropyLoss", G_CLASS, SA_DTYPE_F32, P_SC},
    {LOSS_MODULE, "cross_entropy", G_FUNCTION, SA_DTYPE_F32, P_SC},
};

static int make_global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++) {
        if (!(k_globals[i].profiles & (1 << m->profile))) continue;
        if (strlen(k_globals[i].module) == ml && memcmp(k_globals[i].module, mod, ml) == 0 &&
            strlen(k_globals[i].name) == nl && memcmp(k_globals[i].name, name, nl) == 0) {
            pv *g = vm_new(m, PV_GLOBAL);
            if (!g) return m->err ? m->err->code : SA_ERR_NOMEM;
            g->glob = k_globals[i].glob;
            g->dt = k_globals[i].dt;
            if (g->glob == G_CLASS ||
                g->glob == G_FUNCTION) { /* kept by name, for the config JSON */
                g->slen = ml + 1 + nl;
                g->s = malloc(g->slen + 1);
                if (!g->s) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
                memcpy(g->s, mod, ml);
                g->s[ml] = '.';
                memcpy(g->s + ml + 1, name, nl);
                g->s[g->slen] = '\0';
            }
            return push(m, g);
        }
    }
    int a = ml > 100 ? 100 : (int)ml, b = nl > 100 ? 100 : (int)nl;
    return sa_error_set(m->err, SA_ERR_UNSUPPORTED,
                        "%s: pickle refers to forbidden global '%.*s.%.*s'", m->what, a, mod, b,
                        name);
}

static int get_int_tuple(const pv *t, int64_t *out, int max, int *n) {
    if (t->type != PV_TUPLE || t->n > (size_t)max) return 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->type != PV_INT) return 0;
        out[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return 1;
}

/* REDUCE: callable(args) for the allowed callables only. */
static int reduce(vm *m, pv *fn, pv *args, size_t pos) {
    if (fn->type != PV_GLOBAL || args->type != PV_TUPLE)
        return BAD("%s: pickle REDUCE at byte %zu on something not callable", m->what, pos);
    switch (fn->glob) {
    case G_ORDERED_DICT:
        return push(m, vm_new(m, PV_DICT));
    case G_SET: { /* set() or set(list) */
        pv *st = vm_new(m, PV_SET);
        if (!st) return m->err ? m->err->code : SA_ERR_NOMEM;
        if (args->n > 1 || (args->n == 1 && args->items[0]->type != PV_LIST))
            return BAD("%s: pickle set() at byte %zu has bad arguments", m->what, pos);
        if (args->n == 1)
            for (size_t j = 0; j < args->items[0]->n; j++) {
                int rc = add_item(m, st, args->items[0]->items[j]);
                if (rc != SA_OK) return rc;
            }
        return push(m, st);
    }
    case G_CLASS:
    case G_FUNCTION:
        return sa_error_set(m->err, SA_ERR_UNSUPPORTED,
                            "%s: pickle calls '%s' at byte %zu (not allowed)", m->what, fn->s, pos);
    case G_REBUILD_PARAMETER:
        if (args->n < 1 || args->items[0]->type != PV_TENSOR)
            return BAD("%s: pickle _rebuild_parameter at byte %zu without a tensor", m->what, pos);
        return push(m, args->items[0]);
    case G_REBUILD_TENSOR_V2: {
        if (args->n < 4 || args->items[0]->type != PV_STORAGE || args->items[1]->type != PV_INT)
            return BAD("%s: pickle _rebuild_tensor_v2 at byte %zu has bad arguments", m->what, pos);
        ptensor *tn = calloc(1, sizeof *tn);
        if (!tn) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        int ns = 0, nst = 0;
        if (!get_int_tuple(args->items[2], tn->shape, SA_TENSOR_MAX_DIMS, &ns) ||
            !get_int_tuple(args->items[3], tn->stride, SA_TENSOR_MAX_DIMS, &nst) || ns != nst) {
            free(tn);
            return BAD("%s: pickle _rebuild_tensor_v2 at byte %zu: size/stride must be int tuples "
                       "of equal length "
                       "(at most %d)",
                       m->what, pos, SA_TENSOR_MAX_DIMS);
        }
        tn->storage = args->items[0];
        tn->offset = args->items[1]->i;
        tn->ndim = ns;
        pv *t = vm_new(m, PV_TENSOR);
        if (!t) {
            free(tn);
            return m->err ? m->err->code : SA_ERR_NOMEM;
        }
        t->tn = tn;
        return push(m, t);
    }
    default:
        return BAD("%s: pickle REDUCE at byte %zu on a storage type", m->what, pos);
    }
}

static int pop_mark(vm *m, size_t *base, size_t pos) {
    if (m->nmarks == 0) return BAD("%s: pickle opcode at byte %zu needs a MARK", m->what, pos);
    *base = m->marks[--m->nmarks];
    if (*base > m->sp) return BAD("%s: pickle stack underflow at byte %zu", m->what, pos);
    return SA_OK;
}

static int memo_put(vm *m, uint64_t idx, size_t pos) {
    if (m->sp == 0) return BAD("%s: pickle memo store on an empty stack at byte %zu", m->what, pos);
    if (idx >= MAX_MEMO)
        return BAD("%s: pickle memo index %llu too large", m->what, (unsigned long long)idx);
    if (idx >= m->nmemo) {
        size_t cap = m->nmemo;
        if (!grow((void **)&m->memo, &cap, (size_t)idx + 1, sizeof *m->memo))
            return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        for (size_t i = m->nmemo; i < cap; i++)
            m->memo[i] = NULL;
        m->nmemo = cap;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return SA_OK;
}

/* ------------------------------------------------------------------ text opcodes (plain profile)
 */

/* The line of a protocol-0 opcode's argument: [p + i, nl); *next is the byte after the newline. */
static int text_line(const uint8_t *p, size_t n, size_t i, size_t *len, size_t *next) {
    const uint8_t *nl = memchr(p + i, '\n', n - i);
    if (!nl) return 0;
    *len = (size_t)(nl - (p + i));
    *next = *len + i + 1;
    return 1;
}

static int parse_int_text(const uint8_t *s, size_t len, int64_t *out) {
    size_t k = 0;
    int neg = 0;
    if (len && (s[0] == '-' || s[0] == '+')) neg = s[k++] == '-';
    if (len && s[len - 1] == 'L') len--; /* LONG's suffix */
    if (k >= len) return 0;
    uint64_t u = 0;
    for (; k < len; k++) {
        if (s[k] < '0' || s[k] > '9') return 0;
        if (u > (UINT64_MAX - 9) / 10) return 0;
        u = u * 10 + (uint64_t)(s[k] - '0');
    }
    if (u > (uint64_t)INT64_MAX + (uint64_t)neg) return 0;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18);
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static int hexval(uint8_t c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* STRING's argument is a Python repr ('...' or "..." with \\ \' \" \n \t \r \xhh \ooo escapes): the
 * bytes as they are. UNICODE's is raw-unicode-escape: \uXXXX, \UXXXXXXXX, every other byte a
 * Latin-1 character; it comes out as UTF-8. Output is at most 4 bytes per input byte; *o holds it.
 */
static int unescape_text(const uint8_t *s, size_t len, int unicode, char **o, size_t *olen) {
    if (!unicode) {
        if (len < 2 || (s[0] != '\'' && s[0] != '"') || s[len - 1] != s[0]) return 0;
        s++;
        len -= 2;
    }
    if (len > SIZE_MAX / 4 - 1) return 0;
    char *out = malloc(len * 4 + 1);
    if (!out) return -1;
    size_t k = 0, j = 0;
    while (k < len) {
        uint8_t c = s[k++];
        if (c != '\\' || k >= len) {
            if (unicode && c >= 0x80)
                j += put_utf8(out + j, c);
            else
                out[j++] = (char)c;
            continue;
        }
        uint8_t e = s[k];
        if (unicode) {
            int nd = e == 'u' ? 4 : e == 'U' ? 8 : 0;
            if (!nd || len - k - 1 < (size_t)nd) { /* a lone backslash stands for itself */
                out[j++] = '\\';
                continue;
            }
            uint32_t cp = 0;
            for (int d = 0; d < nd; d++) {
                int h = hexval(s[k + 1 + (size_t)d]);
                if (h < 0 || cp > 0x10ffff) goto bad;
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp > 0x10ffff) goto bad;
            k += 1 + (size_t)nd;
            j += put_utf8(out + j, cp);
            continue;
        }
        k++;
        switch (e) {
        case 'n':
            out[j++] = '\n';
            break;
        case 't':
            out[j++] = '\t';
            break;
        case 'r':
            out[j++] = '\r';
            break;
        case '\\':
        case '\'':
        case '"':
            out[j++] = (char)e;
            break;
        case 'x': {
            int h1 = k < len ? hexval(s[k]) : -1, h2 = k + 1 < len ? hexval(s[k + 1]) : -1;
            if (h1 < 0 || h2 < 0) goto bad;
            out[j++] = (char)(h1 * 16 + h2);
            k += 2;
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                unsigned v = (unsigned)(e - '0');
                for (int d = 0; d < 2 && k < len && s[k] >= '0' && s[k] <= '7'; d++)
                    v = v * 8 + (unsigned)(s[k++] - '0');
                out[j++] = (char)(v & 0xff);
            } else {
                goto bad;
            }
        }
    }
    out[j] = '\0';
    *o = out;
    *olen = j;
    return 1;
bad:
    free(out);
    return 0;
}

/* Plain-profile opcodes; *handled is 0 when op is none of them. */
static int plain_op(vm *m, uint8_t op, const uint8_t *p, size_t n, size_t *ip, size_t pos,
                    int *handled) {
    size_t i = *ip, len = 0, next = 0;
    pv *a;
    *handled = 1;
    switch (op) {
    case 'I': /* INT (protocol 0): decimal, or 00 / 01 for False / True */
    case 'L': /* LONG (protocol 0): decimal with an L */
    case 'F': /* FLOAT (protocol 0): repr */
    case 'p': /* PUT */
    case 'g': /* GET */
    case 'S': /* STRING: a quoted repr */
    case 'V': /* UNICODE: raw-unicode-escape */
        if (!text_line(p, n, i, &len, &next))
            return BAD("%s: pickle opcode '%c' at byte %zu truncated", m->what, op, pos);
        *ip = next;
        break;
    default:
        break;
    }
    const uint8_t *t = p + i;
    switch (op) {
    case 'I':
    case 'L': {
        int64_t v = 0;
        if (op == 'I' && len == 2 && t[0] == '0' && (t[1] == '0' || t[1] == '1')) {
            if (!(a = vm_new(m, PV_BOOL))) return m->err->code;
            a->i = t[1] == '1';
            return push(m, a);
        }
        if (!parse_int_text(t, len, &v))
            return BAD("%s: pickle integer at byte %zu is not a 64-bit decimal", m->what, pos);
        if (!(a = vm_new(m, PV_INT))) return m->err->code;
        a->i = v;
        return push(m, a);
    }
    case 'F': {
        char buf[64];
        char *end = NULL;
        if (len == 0 || len >= sizeof buf)
            return BAD("%s: pickle FLOAT at byte %zu malformed", m->what, pos);
        memcpy(buf, t, len);
        buf[len] = '\0';
        double d = strtod(buf, &end);
        if (end != buf + len) return BAD("%s: pickle FLOAT at byte %zu malformed", m->what, pos);
        if (!(a = vm_new(m, PV_FLOAT))) return m->err->code;
        a->f = d;
        return push(m, a);
    }
    case 'p':
    case 'g': {
        int64_t idx = 0;
        if (!parse_int_text(t, len, &idx) || idx < 0 || (uint64_t)idx >= MAX_MEMO)
            return BAD("%s: pickle memo index at byte %zu malformed", m->what, pos);
        if (op == 'p') return memo_put(m, (uint64_t)idx, pos);
        if ((size_t)idx >= m->nmemo || !m->memo[idx])
            return BAD("%s: pickle memo index %lld at byte %zu was never stored", m->what,
                       (long long)idx, pos);
        return push(m, m->memo[idx]);
    }
    case 'S':
    case 'V': {
        char *o = NULL;
        size_t olen = 0;
        int r = unescape_text(t, len, op == 'V', &o, &olen);
        if (r < 0) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        if (r == 0) return BAD("%s: pickle string at byte %zu malformed", m->what, pos);
        if (!(a = vm_new(m, PV_STR))) {
            free(o);
            return m->err->code;
        }
        a->s = o;
        a->slen = olen;
        return push(m, a);
    }
    case 'B':  /* BINBYTES */
    case 'C':  /* SHORT_BINBYTES */
    case 0x8e: /* BINBYTES8 */
    {
        size_t k = op == 'C' ? 1 : op == 'B' ? 4 : 8;
        if (n - i < k) return BAD("%s: pickle truncated at byte %zu", m->what, pos);
        uint64_t bl = k == 1 ? p[i] : k == 4 ? rd32(p + i) : rd64(p + i);
        i += k;
        if (bl > n - i) return BAD("%s: pickle bytes at byte %zu run past the end", m->what, pos);
        if (!(a = vm_new(m, PV_STR))) return m->err->code;
        a->s = malloc((size_t)bl + 1);
        if (!a->s) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
        memcpy(a->s, p + i, (size_t)bl);
        a->s[bl] = '\0';
        a->slen = (size_t)bl;
        *ip = i + (size_t)bl;
        return push(m, a);
    }
    case 0x8f: /* EMPTY_SET */
        return push(m, vm_new(m, PV_SET));
    case 0x90: /* ADDITEMS */
    case 0x91: /* FROZENSET */
    {
        size_t base = 0;
        int rc = pop_mark(m, &base, pos);
        if (rc != SA_OK) return rc;
        if (op == 0x90) {
            if (base == 0 || m->stack[base - 1]->type != PV_SET)
                return BAD("%s: pickle ADDITEMS at byte %zu on a non-set", m->what, pos);
            a = m->stack[base - 1];
        } else if (!(a = vm_new(m, PV_SET))) {
            return m->err->code;
        }
        for (size_t j = base; j < m->sp; j++)
            if ((rc = add_item(m, a, m->stack[j])) != SA_OK) return rc;
        m->sp = base;
        return op == 0x91 ? push(m, a) : SA_OK;
    }
    default:
        *handled = 0;
        return SA_OK;
    }
}

/* Runs the pickle; *result is the object STOP returns. */
static int run_pickle(vm *m, const uint8_t *p, size_t n, pv **result) {
    size_t i = 0;
    uint64_t memo_count = 0; /* MEMOIZE uses the memo size, i.e. the number of stores so far */
#define NEED(k)                                                                                    \
    do {                                                                                           \
        if (n - i < (size_t)(k)) return BAD("%s: pickle truncated at byte %zu", m->what, pos);     \
    } while (0)
#define POP1(v)                                                                                    \
    do {                                                                                           \
        if (m->sp == 0 || (m->nmarks && m->marks[m->nmarks - 1] >= m->sp))                         \
            return BAD("%s: pickle stack underflow at byte %zu", m->what, pos);                    \
        (v) = m->stack[--m->sp];                                                                   \
    } while (0)
    while (i < n) {
        size_t pos = i;
        uint8_t op = p[i++];
        int rc = SA_OK;
        pv *a, *b, *c;
        size_t base = 0;
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (p[i] > 5) return BAD("%s: pickle protocol %u not supported", m->what, p[i]);
            i++;
            break;
        case 0x95: /* FRAME */
            NEED(8);
            i += 8;
            break;
        case '.': /* STOP */
            POP1(a);
            *result = a;
            return SA_OK;
        case '(': /* MARK */
            if (!grow((void **)&m->marks, &m->capmarks, m->nmarks + 1, sizeof *m->marks))
                return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
            m->marks[m->nmarks++] = m->sp;
            break;
        case '}':
            rc = push(m, vm_new(m, PV_DICT));
            break;
        case ']':
            rc = push(m, vm_new(m, PV_LIST));
            break;
        case ')':
            rc = push(m, vm_new(m, PV_TUPLE));
            break;
        case 'N':
            rc = push(m, vm_new(m, PV_NONE));
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if ((a = vm_new(m, PV_BOOL)) != NULL) a->i = op == 0x88;
            rc = push(m, a);
            break;
        case 'J': /* BININT */
        case 'K': /* BININT1 */
        case 'M': /* BININT2 */
        {
            size_t k = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            NEED(k);
            int64_t v = op == 'J'   ? (int64_t)(int32_t)rd32(p + i)
                        : op == 'K' ? p[i]
                                    : (int64_t)rd16(p + i);
            i += k;
            if ((a = vm_new(m, PV_INT)) != NULL) a->i = v;
            rc = push(m, a);
            break;
        }
        case 0x8a: /* LONG1 */
        {
            NEED(1);
            size_t k = p[i++];
            if (k > 8)
                return BAD("%s: pickle LONG1 of %zu bytes at byte %zu not supported", m->what, k,
                           pos);
            NEED(k);
            uint64_t u = 0;
            for (size_t j = 0; j < k; j++)
                u |= (uint64_t)p[i + j] << (8 * j);
            if (k > 0 && k < 8 && (p[i + k - 1] & 0x80))
                u |= ~(uint64_t)0 << (8 * k); /* sign-extend */
            i += k;
            if ((a = vm_new(m, PV_INT)) != NULL) memcpy(&a->i, &u, 8);
            rc = push(m, a);
            break;
        }
        case 'G': /* BINFLOAT, big-endian */
        {
            NEED(8);
            uint64_t u = 0;
            for (int j = 0; j < 8; j++)
                u = (u << 8) | p[i + j];
            i += 8;
            if ((a = vm_new(m, PV_FLOAT)) != NULL) memcpy(&a->f, &u, 8);
            rc = push(m, a);
            break;
        }
        case 'X':  /* BINUNICODE */
        case 0x8c: /* SHORT_BINUNICODE */
        case 0x8d: /* BINUNICODE8 */
        case 'T':  /* BINSTRING */
        case 'U':  /* SHORT_BINSTRING */
        {
            size_t k = (op == 0x8c || op == 'U') ? 1 : op == 0x8d ? 8 : 4;
            NEED(k);
            uint64_t len = k == 1 ? p[i] : k == 4 ? rd32(p + i) : rd64(p + i);
            i += k;
            if (len > n - i)
                return BAD("%s: pickle string at byte %zu runs past the end", m->what, pos);
            if ((a = vm_new(m, PV_STR)) != NULL) {
                a->s = malloc((size_t)len + 1);
                if (!a->s) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
                memcpy(a->s, p + i, (size_t)len);
                a->s[len] = '\0';
                a->slen = (size_t)len;
            }
            i += (size_t)len;
            rc = push(m, a);
            break;
        }
        case 't': /* TUPLE */
        case 'l': /* LIST */
        case 'd': /* DICT */
            if ((rc = pop_mark(m, &base, pos)) != SA_OK) return rc;
            if (op == 'd' && (m->sp - base) % 2)
                return BAD("%s: pickle DICT at byte %zu with an odd item count", m->what, pos);
            if (!(a = vm_new(m, op == 't' ? PV_TUPLE : op == 'l' ? PV_LIST : PV_DICT)))
                return m->err->code;
            for (size_t j = base; j < m->sp; j++)
                if ((rc = add_item(m, a, m->stack[j])) != SA_OK) return rc;
            m->sp = base;
            rc = push(m, a);
            break;
        case 0x85: /* TUPLE1..3 */
        case 0x86:
        case 0x87: {
            size_t k = (size_t)(op - 0x84);
            if (m->sp < k || (m->nmarks && m->marks[m->nmarks - 1] > m->sp - k))
                return BAD("%s: pickle stack underflow at byte %zu", m->what, pos);
            if (!(a = vm_new(m, PV_TUPLE))) return m->err->code;
            for (size_t j = m->sp - k; j < m->sp; j++)
                if ((rc = add_item(m, a, m->stack[j])) != SA_OK) return rc;
            m->sp -= k;
            rc = push(m, a);
            break;
        }
        case 'a': /* APPEND */
            POP1(b);
            POP1(a);
            if (a->type != PV_LIST)
                return BAD("%s: pickle APPEND at byte %zu on a non-list", m->what, pos);
            if ((rc = add_item(m, a, b)) != SA_OK) return rc;
            rc = push(m, a);
            break;
        case 's': /* SETITEM */
            POP1(c);
            POP1(b);
            POP1(a);
            if (a->type != PV_DICT)
                return BAD("%s: pickle SETITEM at byte %zu on a non-dict", m->what, pos);
            if ((rc = add_item(m, a, b)) != SA_OK || (rc = add_item(m, a, c)) != SA_OK) return rc;
            rc = push(m, a);
            break;
        case 'e': /* APPENDS */
        case 'u': /* SETITEMS */
            if ((rc = pop_mark(m, &base, pos)) != SA_OK) return rc;
            if (base == 0) return BAD("%s: pickle stack underflow at byte %zu", m->what, pos);
            a = m->stack[base - 1];
            if (a->type != (op == 'e' ? PV_LIST : PV_DICT) || (op == 'u' && (m->sp - base) % 2))
                return BAD("%s: pickle %s at byte %zu on the wrong container", m->what,
                           op == 'e' ? "APPENDS" : "SETITEMS", pos);
            for (size_t j = base; j < m->sp; j++)
                if ((rc = add_item(m, a, m->stack[j])) != SA_OK) return rc;
            m->sp = base;
            break;
        case 'q': /* BINPUT */
            NEED(1);
            rc = memo_put(m, p[i++], pos);
            memo_count++;
            break;
        case 'r': /* LONG_BINPUT */
            NEED(4);
            rc = memo_put(m, rd32(p + i), pos);
            i += 4;
            memo_count++;
            break;
        case 0x94: /* MEMOIZE */
            rc = memo_put(m, memo_count, pos);
            memo_count++;
            break;
        case 'h': /* BINGET */
        case 'j': /* LONG_BINGET */
        {
            size_t k = op == 'h' ? 1 : 4;
            NEED(k);
            uint64_t idx = k == 1 ? p[i] : rd32(p + i);
            i += k;
            if (idx >= m->nmemo || !m->memo[idx])
                return BAD("%s: pickle memo index %llu at byte %zu was never stored", m->what,
                           (unsigned long long)idx, pos);
            rc = push(m, m->memo[idx]);
            break;
        }
        case 'c': /* GLOBAL "module\nname\n" */
        {
            const uint8_t *nl1 = memchr(p + i, '\n', n - i);
            if (!nl1) return BAD("%s: pickle GLOBAL at byte %zu truncated", m->what, pos);
            size_t ml = (size_t)(nl1 - (p + i));
            const uint8_t *nm = nl1 + 1;
            const uint8_t *nl2 = memchr(nm, '\n', n - (size_t)(nm - p));
            if (!nl2) return BAD("%s: pickle GLOBAL at byte %zu truncated", m->what, pos);
            rc = make_global(m, (const char *)p + i, ml, (const char *)nm, (size_t)(nl2 - nm));
            i = (size_t)(nl2 - p) + 1;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            POP1(b);
            POP1(a);
            if (a->type != PV_STR || b->type != PV_STR)
                return BAD("%s: pickle STACK_GLOBAL at byte %zu without strings", m->what, pos);
            rc = make_global(m, a->s, a->slen, b->s, b->slen);
            break;
        case 'R': /* REDUCE */
            POP1(b);
            POP1(a);
            rc = reduce(m, a, b, pos);
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args), for the inert classes only */
            POP1(b);
            POP1(a);
            if (a->type != PV_GLOBAL || a->glob != G_CLASS || b->type != PV_TUPLE)
                return BAD(
                    "%s: pickle NEWOBJ at byte %zu on something that is not an allowed class",
                    m->what, pos);
            if (!(c = vm_new(m, PV_OBJECT))) return m->err->code;
            c->s = sa__strdup(a->s);
            if (!c->s) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
            c->slen = a->slen;
            rc = push(m, c);
            break;
        case 'b': /* BUILD: state is ignored (OrderedDict metadata, parameter attributes) */
            POP1(b);
            if (m->sp == 0)
                return BAD("%s: pickle BUILD at byte %zu on an empty stack", m->what, pos);
            if (m->stack[m->sp - 1]->type != PV_DICT && m->stack[m->sp - 1]->type != PV_TENSOR &&
                m->stack[m->sp - 1]->type != PV_OBJECT)
                return BAD("%s: pickle BUILD at byte %zu on an unsupported object", m->what, pos);
            break;
        case 'Q': /* BINPERSID: ('storage', storage_type, key, location, numel) */
        {
            POP1(a);
            if (a->type != PV_TUPLE || a->n != 5 || a->items[0]->type != PV_STR ||
                strcmp(a->items[0]->s, "storage") != 0 || a->items[1]->type != PV_GLOBAL ||
                a->items[1]->glob != G_STORAGE_TYPE || a->items[2]->type != PV_STR ||
                a->items[4]->type != PV_INT || a->items[4]->i < 0)
                return BAD("%s: pickle persistent id at byte %zu is not a storage reference",
                           m->what, pos);
            if (memchr(a->items[2]->s, 0,
                       a->items[2]->slen)) /* the key names a zip entry: no NUL inside */
                return BAD("%s: pickle storage key at byte %zu contains a NUL byte", m->what, pos);
            if (!(b = vm_new(m, PV_STORAGE))) return m->err->code;
            b->dt = a->items[1]->dt;
            b->i = a->items[4]->i;
            b->s = strdup(a->items[2]->s);
            if (!b->s) return sa_error_set(m->err, SA_ERR_NOMEM, "%s: out of memory", m->what);
            b->slen = a->items[2]->slen;
            rc = push(m, b);
            break;
        }
        case '0': /* POP */
            POP1(a);
            break;
        case '1': /* POP_MARK */
            rc = pop_mark(m, &base, pos);
            if (rc == SA_OK) m->sp = base;
            break;
        case '2': /* DUP */
            if (m->sp == 0)
                return BAD("%s: pickle DUP at byte %zu on an empty stack", m->what, pos);
            rc = push(m, m->stack[m->sp - 1]);
            break;
        default: {
            int handled = 0;
            if (m->profile == PROFILE_PLAIN) rc = plain_op(m, op, p, n, &i, pos, &handled);
            if (!handled)
                return sa_error_set(m->err, SA_ERR_UNSUPPORTED,
                                    "%s: pickle opcode 0x%02x at byte %zu not supported", m->what,
                                    op, pos);
            break;
        }
        }
        if (rc != SA_OK) return rc;
    }
#undef NEED
#undef POP1
    return BAD("%s: pickle ends without STOP (truncated)", m->what);
}

/* ------------------------------------------------------------------ tensors */

static int add_tensor(sa_weights *w, zip *z, const char *prefix, size_t plen, const pv *key,
                      const ptensor *tn, sa_error *err) {
    const char *what = z->what;
    const pv *st = tn->storage;
    size_t es = sa_dtype_size(st->dt);
    /* "<prefix>data/<key>" */
    size_t kl = st->slen, nl = plen + 5 + kl;
    char *ename = malloc(nl + 1);
    if (!ename) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    memcpy(ename, prefix, plen);
    memcpy(ename + plen, "data/", 5);
    memcpy(ename + plen + 5, st->s, kl);
    ename[nl] = '\0';
    zentry *e = zip_find(z, ename, nl);
    free(ename);
    if (!e)
        return sa_error_set(err, SA_ERR_NOT_FOUND,
                            "%s: tensor '%s': storage '%.64s' missing from the archive", what,
                            key->s, st->s);
    const uint8_t *sdata;
    size_t slen;
    /* the storage's bytes are known from the pickle: the entry must hold exactly those (torch
     * writes them so), checked before it is inflated */
    const uint8_t *src = NULL;
    int rc = zip_check(z, e, &src, err);
    if (rc != SA_OK) return rc;
    uint64_t sbytes;
    if (st->i < 0 || !sa__mul_u64((uint64_t)st->i, es, &sbytes) || sbytes > e->usize)
        return sa_error_set(
            err, SA_ERR_FORMAT,
            "%s: tensor '%s': storage of %lld elements larger than its %llu-byte entry", what,
            key->s, (long long)st->i, (unsigned long long)e->usize);
    if (e->usize > sbytes)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: tensor '%s': storage entry '%.64s' holds %llu bytes but its %lld "
                            "elements take %llu",
                            what, key->s, st->s, (unsigned long long)e->usize, (long long)st->i,
                            (unsigned long long)sbytes);
    rc = zip_data(z, e, w, sbytes, &sdata, &slen, err);
    if (rc != SA_OK) return rc;
    uint64_t numel = 1, extent = 0;
    int contiguous = 1;
    uint64_t expect = 1;
    for (int d = tn->ndim - 1; d >= 0; d--) {
        if (tn->shape[d] < 0 || tn->stride[d] < 0)
            return sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s': negative size or stride",
                                what, key->s);
        if (!sa__mul_u64(numel, (uint64_t)tn->shape[d], &numel) || numel > (uint64_t)INT64_MAX)
            return sa_error_set(err, SA_ERR_RANGE, "%s: tensor '%s': element count overflows", what,
                                key->s);
        if (tn->shape[d] != 1 && (uint64_t)tn->stride[d] != expect) contiguous = 0;
        if (!sa__mul_u64(expect, (uint64_t)tn->shape[d], &expect)) expect = UINT64_MAX;
    }
    if (tn->offset < 0)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: tensor '%s': negative offset", what, key->s);
    if (numel > 0) {
        extent = (uint64_t)tn->offset;
        for (int d = 0; d < tn->ndim; d++) {
            uint64_t span;
            if (!sa__mul_u64((uint64_t)(tn->shape[d] - 1), (uint64_t)tn->stride[d], &span) ||
                extent > UINT64_MAX - span)
                return sa_error_set(err, SA_ERR_RANGE, "%s: tensor '%s': view overflows", what,
                                    key->s);
            extent += span;
        }
        if (extent >= (uint64_t)st->i)
            return sa_error_set(
                err, SA_ERR_FORMAT,
                "%s: tensor '%s': view reaches element %llu of a %lld-element storage", what,
                key->s, (unsigned long long)extent, (long long)st->i);
    }
    if (numel > (uint64_t)st->i)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: tensor '%s': view has more elements than its storage", what,
                            key->s);
    uint64_t nbytes = numel * es; /* <= storage bytes, checked above */
    const uint8_t *data = numel ? sdata + (size_t)tn->offset * es : NULL;
    if (numel && !contiguous) {
        uint8_t *copy = malloc((size_t)nbytes);
        if (!copy)
            return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory copying '%s'", what, key->s);
        int64_t idx[SA_TENSOR_MAX_DIMS] = {0};
        for (uint64_t k = 0; k < numel; k++) {
            uint64_t off = (uint64_t)tn->offset;
            for (int d = 0; d < tn->ndim; d++)
                off += (uint64_t)idx[d] * (uint64_t)tn->stride[d];
            memcpy(copy + k * es, sdata + off * es, es);
            for (int d = tn->ndim - 1; d >= 0; d--) {
                if (++idx[d] < tn->shape[d]) break;
                idx[d] = 0;
            }
        }
        if ((rc = sa__weights_keep(w, copy, (size_t)nbytes, 0, err)) != SA_OK) return rc;
        data = copy;
    }
    return sa__weights_add(w, what, key->s, st->dt, tn->ndim, tn->shape, data, (size_t)nbytes, err);
}

static const pv *dict_get(const pv *d, const char *k) {
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->type == PV_STR && strcmp(d->items[i]->s, k) == 0) return d->items[i + 1];
    return NULL;
}

/* ------------------------------------------------------------------ config as JSON */

typedef struct jbuf {
    char *s;
    size_t n, cap;
    int oom;
    size_t limit; /* 0: none */
    int over;     /* the output passed limit */
} jbuf;

static void jput(jbuf *j, const char *t, size_t len) {
    if (j->oom || j->over) return;
    if (j->limit && j->n + len > j->limit) {
        j->over = 1;
        return;
    }
    if (!grow((void **)&j->s, &j->cap, j->n + len + 1, 1)) {
        j->oom = 1;
        return;
    }
    memcpy(j->s + j->n, t, len);
    j->n += len;
    j->s[j->n] = '\0';
}

static void jstr(jbuf *j, const char *s, size_t len) {
    jput(j, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[8];
        if (ch == '"' || ch == '\\') {
            e[0] = '\\';
            e[1] = (char)ch;
            jput(j, e, 2);
        } else if (ch < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", ch);
            jput(j, e, 6);
        } else {
            jput(j, (const char *)&ch, 1);
        }
    }
    jput(j, "\"", 1);
}

/* Writes v as JSON; depth bounds nesting (memo references can make cycles). */
static int jvalue(jbuf *j, const pv *v, int depth) {
    char t[64];
    if (depth > 32) return 0;
    if (j->over) return 1;
    switch (v->type) {
    case PV_NONE:
        jput(j, "null", 4);
        break;
    case PV_BOOL:
        jput(j, v->i ? "true" : "false", v->i ? 4 : 5);
        break;
    case PV_INT:
        jput(j, t, (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i));
        break;
    case PV_FLOAT:
        if (v->f != v->f || v->f > 1.7976931348623157e308 || v->f < -1.7976931348623157e308)
            jput(j, "null", 4);
        else
            jput(j, t, (size_t)snprintf(t, sizeof t, "%.17g", v->f));
        break;
    case PV_STR:
        jstr(j, v->s, v->slen);
        break;
    case PV_GLOBAL:
        if (v->s)
            jstr(j, v->s, v->slen);
        else
            jput(j, "null", 4);
        break;
    case PV_OBJECT:
        jput(j, "{\"__object__\":", strlen("{\"__object__\":"));
        jstr(j, v->s, v->slen);
        jput(j, "}", 1);
        break;
    case PV_TUPLE:
    case PV_LIST:
    case PV_SET:
        jput(j, "[", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i) jput(j, ",", 1);
            if (!jvalue(j, v->items[i], depth + 1)) return 0;
        }
        jput(j, "]", 1);
        break;
    case PV_DICT: {
        jput(j, "{", 1);
        int first = 1;
        for (size_t i = 0; i + 1 < v->n; i += 2) {
            const pv *k = v->items[i];
            if (k->type != PV_STR) continue; /* JSON keys are strings */
            if (!first) jput(j, ",", 1);
            first = 0;
            jstr(j, k->s, k->slen);
            jput(j, ":", 1);
            if (!jvalue(j, v->items[i + 1], depth + 1)) return 0;
        }
        jput(j, "}", 1);
        break;
    }
    default: /* storages and tensors do not belong in a config */
        jput(j, "null", 4);
        break;
    }
    return 1;
}

int sa__pth_parse(sa_weights *w, const uint8_t *buf, size_t n, const char *what, sa_error *err) {
    return sa__pth_parse_profile(w, buf, n, what, SA_PTH_STATE_DICT, err);
}

int sa__pth_parse_profile(sa_weights *w, const uint8_t *buf, size_t n, const char *what,
                          int profile, sa_error *err) {
    if (profile != SA_PTH_STATE_DICT && profile != SA_PTH_SIMPLECLICK)
        return sa_error_set(err, SA_ERR_INVALID, "%s: unknown .pth profile %d", what, profile);
    zip z;
    int rc = zip_open(&z, buf, n, what, err);
    if (rc != SA_OK) {
        free(z.e);
        return rc;
    }
    /* the archive folder is whatever precedes "data.pkl" */
    zentry *pk = NULL;
    for (size_t i = 0; i < z.ne && !pk; i++) {
        zentry *e = &z.e[i];
        if (e->nlen >= 8 && memcmp(e->name + e->nlen - 8, "data.pkl", 8) == 0 &&
            (e->nlen == 8 || e->name[e->nlen - 9] == '/'))
            pk = e;
    }
    if (!pk) {
        free(z.e);
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: zip without data.pkl (not a torch.save checkpoint)", what);
    }
    size_t plen = pk->nlen - 8;
    char *prefix = malloc(plen + 16);
    if (!prefix) {
        free(z.e);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    }
    memcpy(prefix, pk->name, plen);
    memcpy(prefix + plen, "byteorder", 10);
    zentry *bo = zip_find(&z, prefix, plen + 9);
    const uint8_t *pdata;
    size_t plen_data;
    if (bo) {
        const uint8_t *bd;
        size_t bl;
        rc = zip_data(&z, bo, w, 64, &bd, &bl, err);
        if (rc == SA_OK && !(bl == 6 && memcmp(bd, "little", 6) == 0))
            rc = sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: big-endian checkpoint not supported",
                              what);
        if (rc != SA_OK) goto out_prefix;
    }
    rc = zip_data(&z, pk, w, SA__WEIGHTS_MAX_HEADER, &pdata, &plen_data, err); /* limit first */
    if (rc != SA_OK) goto out_prefix;
    vm m;
    memset(&m, 0, sizeof m);
    m.what = what;
    m.profile = profile;
    sa_error local;
    m.err = err ? err : &local;
    pv *root = NULL;
    rc = run_pickle(&m, pdata, plen_data, &root);
    if (rc == SA_OK && profile == SA_PTH_SIMPLECLICK) {
        /* {'state_dict': OrderedDict, 'config': dict}: both required */
        const pv *sd = root->type == PV_DICT ? dict_get(root, "state_dict") : NULL;
        const pv *cfg = root->type == PV_DICT ? dict_get(root, "config") : NULL;
        if (!sd || sd->type != PV_DICT || !cfg || cfg->type != PV_DICT) {
            rc = sa_error_set(
                err, SA_ERR_FORMAT,
                "%s: not a SimpleClick checkpoint (no 'state_dict' and 'config' dicts at the top)",
                what);
        } else {
            jbuf j = {0};
            if (!jvalue(&j, cfg, 0))
                rc = sa_error_set(err, SA_ERR_FORMAT, "%s: 'config' nests too deeply", what);
            else if (j.oom)
                rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
            if (rc == SA_OK) {
                sa__weights_set_config(w, j.s);
                j.s = NULL;
            }
            free(j.s);
        }
    }
    if (rc == SA_OK) {
        const pv *d = root;
        if (d->type == PV_DICT) {
            const pv *inner = dict_get(d, "model");
            if (!inner || inner->type != PV_DICT) inner = dict_get(d, "state_dict");
            if (inner && inner->type == PV_DICT) d = inner;
        }
        if (d->type != PV_DICT) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: pickle does not hold a dict of tensors",
                              what);
        } else {
            for (size_t i = 0; i + 1 < d->n && rc == SA_OK; i += 2) {
                const pv *k = d->items[i], *v = d->items[i + 1];
                if (v->type != PV_TENSOR) continue; /* non-tensor entries (e.g. an epoch counter) */
                if (k->type != PV_STR || strlen(k->s) != k->slen) {
                    rc = sa_error_set(err, SA_ERR_FORMAT, "%s: tensor key is not a string", what);
                    break;
                }
                rc = add_tensor(w, &z, prefix, plen, k, v->tn, err);
            }
        }
    }
    vm_free(&m);
out_prefix:
    free(prefix);
    free(z.e);
    return rc;
}

int sa__pickle_to_json(const uint8_t *buf, size_t n, const char *what, char **json, size_t *len,
                       sa_error *err) {
    *json = NULL;
    if (len) *len = 0;
    if (!buf && n) return sa_error_set(err, SA_ERR_INVALID, "%s: NULL pickle", what);
    vm m;
    memset(&m, 0, sizeof m);
    m.what = what;
    m.profile = PROFILE_PLAIN;
    sa_error local;
    m.err = err ? err : &local;
    pv *root = NULL;
    int rc = run_pickle(&m, buf ? buf : (const uint8_t *)"", n, &root);
    if (rc == SA_OK) {
        jbuf j = {0};
        j.limit =
            64 * (size_t)n + 65536; /* memo references may repeat a subtree: bound the output */
        if (!jvalue(&j, root, 0))
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s: pickle nests too deeply", what);
        else if (j.over)
            rc = sa_error_set(err, SA_ERR_RANGE,
                              "%s: pickle expands to more than %zu bytes of JSON", what, j.limit);
        else if (j.oom)
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
        if (rc == SA_OK) {
            *json = j.s ? j.s : sa__strdup("null");
            if (!*json)
                rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
            else if (len)
                *len = j.s ? j.n : 4;
        } else {
            free(j.s);
        }
    }
    vm_free(&m);
    return rc;
}
