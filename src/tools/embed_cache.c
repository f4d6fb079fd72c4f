/* The embedding cache (embed_cache.h): one hash table of entries, an LRU list of the entries nobody holds, a
 * mutex and one condition variable for the threads waiting on an entry in flight.
 *
 * An entry is born "computing" and referenced by the thread that created it; that thread reads the file or
 * computes without the lock, then publishes the result ("ready") or removes the entry ("failed") and wakes the
 * waiters. Waiters hold a reference while they wait, so a failed entry lives until the last of them has seen
 * it. Files are written after publishing, so waiters never wait for the disk. */
#include "tools/embed_cache.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/files.h"
#include "base/util.h"

/* ---- hashing: four independent multiply-rotate lanes over 32-byte blocks, folded into 128 bits ---- */
#define HK1 0x9E3779B97F4A7C15ull
#define HK2 0xC2B2AE3D27D4EB4Full
#define HK3 0x165667B19E3779F9ull

static uint64_t rotl64(uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void hash_block(uint64_t *lane, const unsigned char *p) {
    for (int i = 0; i < 4; i++) {
        uint64_t v;
        memcpy(&v, p + 8 * i, 8);
        lane[i] ^= v * HK2;
        lane[i] = rotl64(lane[i], 29) * HK1;
    }
}

void sa__hasher_init(sa__hasher *h, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->lane[0] = seed ^ HK1;
    h->lane[1] = seed + HK2;
    h->lane[2] = rotl64(seed, 17) ^ HK3;
    h->lane[3] = ~seed;
}

void sa__hasher_update(sa__hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t take = 32 - h->nbuf < n ? 32 - h->nbuf : n;
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += take;
        p += take;
        n -= take;
        if (h->nbuf < 32) return;
        hash_block(h->lane, h->buf);
        h->nbuf = 0;
    }
    for (; n >= 32; n -= 32, p += 32)
        hash_block(h->lane, p);
    if (n) memcpy(h->buf, p, n);
    h->nbuf = n;
}

void sa__hasher_final(sa__hasher *h, uint64_t out[2]) {
    if (h->nbuf) {
        memset(h->buf + h->nbuf, 0, 32 - h->nbuf);
        hash_block(h->lane, h->buf);
        h->nbuf = 0;
    }
    const uint64_t *l = h->lane;
    out[0] = fmix64(l[0] ^ rotl64(l[1], 17) ^ rotl64(l[2], 31) ^ rotl64(l[3], 47) ^ h->total);
    out[1] = fmix64(l[0] + l[1] * HK3 + l[2] * HK1 + l[3] * HK2 + (h->total ^ HK3));
}

uint64_t sa__hash64(const void *data, size_t n) {
    sa__hasher h;
    sa__hasher_init(&h, 0);
    sa__hasher_update(&h, data, n);
    uint64_t d[2];
    sa__hasher_final(&h, d);
    return d[0];
}

/* ---- the file format ---- */
static const char k_magic[8] = {'S', 'A', 'E', 'M', 'B', 'E', 'D', '\0'};

static int payload_bytes(const sa__embed_info *in, size_t *out) {
    if (in->grid_h <= 0 || in->grid_w <= 0 || in->chans <= 0) return 0;
    return sa__mul3_size((size_t)in->grid_h, (size_t)in->grid_w, (size_t)in->chans, out) &&
           sa__mul_size(*out, sizeof(float), out);
}

static void put32(unsigned char *p, int32_t v) {
    memcpy(p, &v, 4);
}
static void put64(unsigned char *p, uint64_t v) {
    memcpy(p, &v, 8);
}
static int32_t get32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

unsigned char *sa__embed_file_encode(const sa__embed *e, size_t *len) {
    size_t pb = 0;
    if (!payload_bytes(&e->info, &pb) || pb > SIZE_MAX - SA__EMBED_HEADER_BYTES) return NULL;
    unsigned char *b = malloc(SA__EMBED_HEADER_BYTES + pb);
    if (!b) return NULL;
    memset(b, 0, SA__EMBED_HEADER_BYTES);
    memcpy(b, k_magic, 8);
    put32(b + 8, SA__EMBED_VERSION);
    put32(b + 12, SA__EMBED_HEADER_BYTES);
    put64(b + 16, e->key.model[0]);
    put64(b + 24, e->key.model[1]);
    put64(b + 32, e->key.image[0]);
    put64(b + 40, e->key.image[1]);
    const sa__embed_info *in = &e->info;
    const int32_t f[8] = {in->width,  in->height, in->new_w, in->new_h,
                          in->grid_h, in->grid_w, in->chans, 0};
    for (int i = 0; i < 8; i++)
        put32(b + 48 + 4 * i, f[i]);
    memcpy(b + SA__EMBED_HEADER_BYTES, e->data, pb);
    put64(b + 80, (uint64_t)pb);
    put64(b + 88, sa__hash64(b + SA__EMBED_HEADER_BYTES, pb));
    put64(b + 96, sa__hash64(b, 96));
    *len = SA__EMBED_HEADER_BYTES + pb;
    return b;
}

int sa__embed_file_parse(const unsigned char *b, size_t len, const sa__embed_key *key,
                         const sa__embed_info *want, const char *what, sa__embed *out,
                         sa_error *err) {
    memset(out, 0, sizeof *out);
    size_t pb = 0;
    if (!payload_bytes(want, &pb))
        return sa_error_set(err, SA_ERR_INVALID, "%s: no embedding shape to expect", what);
    if (len < SA__EMBED_HEADER_BYTES)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: truncated (%zu bytes, the header alone is %d)",
                            what, len, SA__EMBED_HEADER_BYTES);
    if (memcmp(b, k_magic, 8) != 0)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: not an embedding cache file", what);
    if (get32(b + 8) != SA__EMBED_VERSION || get32(b + 12) != SA__EMBED_HEADER_BYTES)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: version %d (this build reads version %d)",
                            what, (int)get32(b + 8), SA__EMBED_VERSION);
    if (get64(b + 96) != sa__hash64(b, 96))
        return sa_error_set(err, SA_ERR_FORMAT, "%s: header checksum mismatch", what);
    if (get64(b + 16) != key->model[0] || get64(b + 24) != key->model[1])
        return sa_error_set(err, SA_ERR_RANGE, "%s: made by another model", what);
    if (get64(b + 32) != key->image[0] || get64(b + 40) != key->image[1])
        return sa_error_set(err, SA_ERR_RANGE, "%s: made from another image", what);
    sa__embed_info in = {.width = get32(b + 48),
                         .height = get32(b + 52),
                         .new_w = get32(b + 56),
                         .new_h = get32(b + 60),
                         .grid_h = get32(b + 64),
                         .grid_w = get32(b + 68),
                         .chans = get32(b + 72)};
    if (in.width != want->width || in.height != want->height || in.grid_h != want->grid_h ||
        in.grid_w != want->grid_w || in.chans != want->chans || get32(b + 76) != 0)
        return sa_error_set(err, SA_ERR_RANGE,
                            "%s: holds a %dx%d image as %dx%dx%d, expected %dx%d as %dx%dx%d f32",
                            what, in.width, in.height, in.grid_h, in.grid_w, in.chans, want->width,
                            want->height, want->grid_h, want->grid_w, want->chans);
    if (in.new_w <= 0 || in.new_h <= 0 || in.new_w > (1 << 20) || in.new_h > (1 << 20) ||
        (want->new_w > 0 && in.new_w != want->new_w) ||
        (want->new_h > 0 && in.new_h != want->new_h))
        return sa_error_set(err, SA_ERR_RANGE, "%s: resized size %dx%d is not usable", what,
                            in.new_w, in.new_h);
    if (get64(b + 80) != (uint64_t)pb || len - SA__EMBED_HEADER_BYTES != pb)
        return sa_error_set(err, SA_ERR_FORMAT, "%s: %zu payload bytes, expected %zu (truncated?)",
                            what, len - SA__EMBED_HEADER_BYTES, pb);
    const unsigned char *payload = b + SA__EMBED_HEADER_BYTES;
    if (get64(b + 88) != sa__hash64(payload, pb))
        return sa_error_set(err, SA_ERR_FORMAT, "%s: payload checksum mismatch", what);
    float *data = malloc(pb);
    if (!data) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", what);
    memcpy(data, payload, pb);
    for (size_t i = 0; i < pb / sizeof(float); i++)
        if (!isfinite(data[i])) {
            free(data);
            return sa_error_set(err, SA_ERR_FORMAT, "%s: value %zu is not finite", what, i);
        }
    out->key = *key;
    out->info = in;
    out->data = data;
    return SA_OK;
}

/* ---- the cache ---- */
enum { E_COMPUTING, E_READY, E_FAILED };

typedef struct entry {
    sa__embed e; /* first: a const sa__embed * given out is this entry */
    int state;
    int refs;
    size_t bytes;
    struct entry *hnext;               /* hash chain */
    struct entry *lru_prev, *lru_next; /* the LRU list (only entries with refs == 0 and ready) */
} entry;

#define N_BUCKETS 1024

struct sa__embed_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t max_bytes;
    char *dir;
    sa__embed_warn_fn warn;
    void *warn_user;
    sa__embed_wait_fn wait_hook;
    void *wait_user;
    entry *bucket[N_BUCKETS];
    entry *lru_head, *lru_tail; /* head = most recently released */
    int write_warned;
    sa__embed_cache_stats st;
};

int sa__embed_cache_new(size_t max_bytes, const char *dir, sa__embed_warn_fn warn, void *warn_user,
                        sa__embed_cache **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "embedding cache: out is NULL");
    *out = NULL;
    if (dir && !*dir)
        return sa_error_set(err, SA_ERR_INVALID, "embedding cache: empty folder name");
    if (dir) {
        sa_error e2 = {0};
        if (sa_make_dirs(dir, &e2) != SA_OK)
            return sa_error_set(err, SA_ERR_IO, "embedding cache folder %s: %s", dir, e2.msg);
    }
    sa__embed_cache *c = calloc(1, sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "embedding cache: out of memory");
    c->max_bytes = max_bytes;
    c->warn = warn;
    c->warn_user = warn_user;
    if (dir && !(c->dir = sa__strdup(dir))) {
        free(c);
        return sa_error_set(err, SA_ERR_NOMEM, "embedding cache: out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return SA_OK;
}

void sa__embed_cache_set_wait_hook(sa__embed_cache *c, sa__embed_wait_fn fn, void *user) {
    c->wait_hook = fn;
    c->wait_user = user;
}

static void entry_free(entry *x) {
    free(x->e.data);
    free(x);
}

void sa__embed_cache_free(sa__embed_cache *c) {
    if (!c) return;
    for (int b = 0; b < N_BUCKETS; b++)
        for (entry *x = c->bucket[b], *nx; x; x = nx) {
            nx = x->hnext;
            entry_free(x);
        }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->dir);
    free(c);
}

static int same_key(const sa__embed_key *a, const sa__embed_key *b) {
    return a->model[0] == b->model[0] && a->model[1] == b->model[1] && a->image[0] == b->image[0] &&
           a->image[1] == b->image[1];
}

static entry **slot_of(sa__embed_cache *c, const sa__embed_key *k) {
    return &c->bucket[(k->image[0] ^ k->model[0]) % N_BUCKETS];
}

static entry *find(sa__embed_cache *c, const sa__embed_key *k) {
    for (entry *x = *slot_of(c, k); x; x = x->hnext)
        if (same_key(&x->e.key, k)) return x;
    return NULL;
}

static void unlink_table(sa__embed_cache *c, entry *x) {
    for (entry **p = slot_of(c, &x->e.key); *p; p = &(*p)->hnext)
        if (*p == x) {
            *p = x->hnext;
            break;
        }
}

static void lru_remove(sa__embed_cache *c, entry *x) {
    if (x->lru_prev)
        x->lru_prev->lru_next = x->lru_next;
    else if (c->lru_head == x)
        c->lru_head = x->lru_next;
    if (x->lru_next)
        x->lru_next->lru_prev = x->lru_prev;
    else if (c->lru_tail == x)
        c->lru_tail = x->lru_prev;
    x->lru_prev = x->lru_next = NULL;
}

static void lru_push_front(sa__embed_cache *c, entry *x) {
    x->lru_prev = NULL;
    x->lru_next = c->lru_head;
    if (c->lru_head) c->lru_head->lru_prev = x;
    c->lru_head = x;
    if (!c->lru_tail) c->lru_tail = x;
}

/* Drops released entries, least recently used first, while over budget. mu held. */
static void evict(sa__embed_cache *c) {
    while (c->st.bytes > c->max_bytes && c->lru_tail) {
        entry *x = c->lru_tail;
        lru_remove(c, x);
        unlink_table(c, x);
        c->st.bytes -= x->bytes;
        c->st.entries--;
        entry_free(x);
    }
}

static char *file_path(const sa__embed_cache *c, const sa__embed_key *k) {
    size_t n = strlen(c->dir) + 80;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%016llx%016llx/%016llx%016llx.emb", c->dir,
                 (unsigned long long)k->model[0], (unsigned long long)k->model[1],
                 (unsigned long long)k->image[0], (unsigned long long)k->image[1]);
    return p;
}

static void warn(sa__embed_cache *c, const char *msg) {
    if (c->warn) c->warn(c->warn_user, msg);
}

/* Tries the file for x. 1 when it was used, 0 when there is none or it was rejected (reported). No lock. */
static int read_file(sa__embed_cache *c, entry *x, const sa__embed_info *want) {
    char *path = file_path(c, &x->e.key);
    if (!path) return 0;
    size_t pb = 0;
    payload_bytes(want, &pb);
    char *buf = NULL;
    size_t len = 0;
    sa_error err = {0};
    if (access(path, F_OK) != 0) { /* no file: the common case, not worth a message */
        free(path);
        return 0;
    }
    int rc = sa__read_file(path, SA__EMBED_HEADER_BYTES + pb, &buf, &len, &err);
    sa__embed got;
    if (rc == SA_OK)
        rc = sa__embed_file_parse((const unsigned char *)buf, len, &x->e.key, want, path, &got,
                                  &err);
    free(buf);
    free(path);
    if (rc == SA_OK) {
        x->e.info = got.info;
        x->e.data = got.data;
        return 1;
    }
    pthread_mutex_lock(&c->mu);
    c->st.disk_rejected++;
    pthread_mutex_unlock(&c->mu);
    char msg[SA_ERROR_MSG_LEN + 64];
    snprintf(msg, sizeof msg, "embedding cache: %s; recomputing", err.msg);
    warn(c, msg);
    return 0;
}

static void write_file(sa__embed_cache *c, const sa__embed *e) {
    char *path = file_path(c, &e->key);
    size_t len = 0;
    unsigned char *buf = path ? sa__embed_file_encode(e, &len) : NULL;
    sa_error err = {0};
    int rc = buf ? SA_OK : sa_error_set(&err, SA_ERR_NOMEM, "embedding cache: out of memory");
    if (rc == SA_OK) {
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = sa_make_dirs(path, &err);
        *slash = '/';
    }
    if (rc == SA_OK) rc = sa_file_write(path, buf, len, &err);
    free(buf);
    free(path);
    pthread_mutex_lock(&c->mu);
    int first = 0;
    if (rc == SA_OK) {
        c->st.disk_writes++;
    } else {
        c->st.disk_errors++;
        first = !c->write_warned;
        c->write_warned = 1;
    }
    pthread_mutex_unlock(&c->mu);
    if (first) {
        char msg[SA_ERROR_MSG_LEN + 96];
        snprintf(msg, sizeof msg,
                 "embedding cache: cannot write %s (further write errors are counted, not shown)",
                 err.msg);
        warn(c, msg);
    }
}

int sa__embed_cache_get(sa__embed_cache *c, const sa__embed_key *key, const sa__embed_info *want,
                        sa__embed_compute_fn compute, void *ctx, const sa__embed **out,
                        sa_error *err) {
    if (!c || !key || !want || !compute || !out)
        return sa_error_set(err, SA_ERR_INVALID, "embedding cache: NULL argument");
    *out = NULL;
    size_t pb = 0;
    if (!payload_bytes(want, &pb))
        return sa_error_set(err, SA_ERR_INVALID, "embedding cache: bad embedding shape");
    pthread_mutex_lock(&c->mu);
    entry *x;
    for (;;) {
        x = find(c, key);
        if (!x) break;
        if (x->state == E_READY) {
            if (x->refs++ == 0) lru_remove(c, x);
            c->st.mem_hits++;
            pthread_mutex_unlock(&c->mu);
            *out = &x->e;
            return SA_OK;
        }
        /* in flight: wait for it, holding a reference so a failed entry outlives our look */
        c->st.waits++;
        x->refs++;
        if (c->wait_hook) {
            pthread_mutex_unlock(&c->mu);
            c->wait_hook(c->wait_user, 1);
            pthread_mutex_lock(&c->mu);
        }
        while (x->state == E_COMPUTING)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->wait_hook) { /* x's state is final: it may be read after re-locking */
            pthread_mutex_unlock(&c->mu);
            c->wait_hook(c->wait_user, 0);
            pthread_mutex_lock(&c->mu);
        }
        if (x->state == E_READY) {
            c->st.mem_hits++;
            pthread_mutex_unlock(&c->mu);
            *out = &x->e;
            return SA_OK;
        }
        if (--x->refs == 0) entry_free(x); /* failed and already out of the table: try ourselves */
    }
    x = calloc(1, sizeof *x);
    if (!x) {
        pthread_mutex_unlock(&c->mu);
        return sa_error_set(err, SA_ERR_NOMEM, "embedding cache: out of memory");
    }
    x->e.key = *key;
    x->e.info = *want;
    x->state = E_COMPUTING;
    x->refs = 1;
    entry **slot = slot_of(c, key);
    x->hnext = *slot;
    *slot = x;
    pthread_mutex_unlock(&c->mu);

    int from_disk = c->dir && read_file(c, x, want);
    int rc = SA_OK;
    if (!from_disk) {
        x->e.info = *want;
        rc = compute(ctx, &x->e, err);
        if (rc == SA_OK && !x->e.data)
            rc = sa_error_set(err, SA_ERR_STATE, "embedding cache: compute gave no data");
    }
    pthread_mutex_lock(&c->mu);
    if (rc == SA_OK) {
        x->state = E_READY;
        x->bytes = pb;
        c->st.bytes += pb;
        c->st.entries++;
        if (from_disk)
            c->st.disk_hits++;
        else
            c->st.computed++;
    } else {
        x->state = E_FAILED;
        unlink_table(c, x);
        free(x->e.data);
        x->e.data = NULL;
    }
    pthread_cond_broadcast(&c->cv);
    if (rc != SA_OK) {
        if (--x->refs == 0) entry_free(x);
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    pthread_mutex_unlock(&c->mu);
    if (c->dir && !from_disk) write_file(c, &x->e);
    *out = &x->e;
    return SA_OK;
}

void sa__embed_cache_release(sa__embed_cache *c, const sa__embed *e) {
    if (!c || !e) return;
    entry *x = (entry *)(void *)e; /* e is the entry's first member */
    pthread_mutex_lock(&c->mu);
    if (--x->refs == 0) {
        lru_push_front(c, x);
        evict(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void sa__embed_cache_get_stats(sa__embed_cache *c, sa__embed_cache_stats *out) {
    memset(out, 0, sizeof *out);
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
