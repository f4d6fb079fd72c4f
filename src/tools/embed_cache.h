/* Internal: a cache of image embeddings (the per-image work of a tool such as SAM's image encoder), in memory and
 * optionally on disk, shared by every thread that uses one tool.
 *
 *   sa__embed_cache *c = NULL;
 *   sa__embed_cache_new(256u << 20, "cache/", warn, user, &c, &err);   // dir may be NULL: memory only
 *   sa__embed_key key = {.model = {m0, m1}, .image = {i0, i1}};
 *   sa__embed_info want = {.width = w, .height = h, .grid_h = 64, .grid_w = 64, .chans = 256};
 *   const sa__embed *e = NULL;
 *   sa__embed_cache_get(c, &key, &want, compute, ctx, &e, &err);       // memory, else disk, else compute()
 *   ... read e->data (grid_h * grid_w * chans floats) and e->info ...
 *   sa__embed_cache_release(c, e);
 *   sa__embed_cache_free(c);
 *
 * Memory: an LRU bounded by bytes; entries in use are never evicted (so a budget of 0 keeps nothing once
 * released, and still de-duplicates work in flight). In-flight de-duplication: when two threads ask for the same
 * key at once, one computes (or reads the file) and the others wait for its result; if it fails, a waiter
 * tries again itself.
 *
 * Disk: DIR/<model hex>/<image hex>.emb, written to a temporary name and renamed (base/files.h), so readers
 * never see a partial file. The file format (native byte order, little-endian on every machine we build for):
 *   0   char[8]  "SAEMBED\0"
 *   8   u32      version (1)
 *   12  u32      header bytes (104)
 *   16  u64[2]   model key
 *   32  u64[2]   image key
 *   48  i32[4]   width, height, new_w, new_h  (original image size, resized size the encoder used)
 *   64  i32[4]   grid_h, grid_w, chans, dtype (0 = f32)
 *   80  u64      payload bytes (grid_h * grid_w * chans * 4)
 *   88  u64      payload checksum (sa__hash64 of the payload)
 *   96  u64      header checksum (sa__hash64 of bytes 0..95)
 *   104 payload  grid_h * grid_w * chans floats, token-major
 * A file is used only when every field matches what the caller expects (keys, sizes, shape), both checksums
 * hold, the length is exact and every value is finite; anything else is reported once through the warning
 * callback, counted, and the embedding is recomputed (and the file rewritten).
 */
#ifndef SEGAGENT_TOOLS_EMBED_CACHE_H
#define SEGAGENT_TOOLS_EMBED_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

/* ---- hashing (not cryptographic: cache keys and checksums) ---- */
typedef struct sa__hasher {
    uint64_t lane[4];
    unsigned char buf[32];
    size_t nbuf;
    uint64_t total;
} sa__hasher;

void sa__hasher_init(sa__hasher *h, uint64_t seed);
void sa__hasher_update(sa__hasher *h, const void *data, size_t n);
/* 128 bits of digest; h may be updated no further. */
void sa__hasher_final(sa__hasher *h, uint64_t out[2]);
/* One-shot 64-bit digest. */
uint64_t sa__hash64(const void *data, size_t n);

/* ---- embeddings ---- */
typedef struct sa__embed_key {
    uint64_t model[2]; /* who computed it: weights, architecture, kernels, precision */
    uint64_t image[2]; /* what it was computed from: the image's size and pixels */
} sa__embed_key;

typedef struct sa__embed_info {
    int width, height; /* original image */
    int new_w,
        new_h; /* the resize the encoder used (filled by the compute function or the file; when
                          asked for with values > 0, a file must hold these) */
    int grid_h, grid_w, chans;
} sa__embed_info;

typedef struct sa__embed {
    sa__embed_key key;
    sa__embed_info info;
    float *data; /* (grid_h * grid_w, chans), owned by the cache */
} sa__embed;

typedef struct sa__embed_cache_stats {
    long computed;      /* compute() calls that succeeded */
    long mem_hits;      /* found in memory, ready */
    long waits;         /* found in flight: waited for another thread's result */
    long disk_hits;     /* read from a valid file */
    long disk_writes;   /* files written */
    long disk_rejected; /* files found but not used (corrupt, truncated, mismatched) */
    long disk_errors;   /* files that could not be written */
    long entries;       /* held in memory now */
    size_t bytes;       /* payload bytes held in memory now */
} sa__embed_cache_stats;

/* Fills out->data (malloc'd, info.grid_h * grid_w * chans floats) and out->info.new_w/new_h; out->info's other
 * fields hold what was asked and must stay so. Returns SA_OK or an error (then out->data is NULL or freed by
 * the cache). */
typedef int (*sa__embed_compute_fn)(void *ctx, sa__embed *out, sa_error *err);
typedef void (*sa__embed_warn_fn)(void *user, const char *msg);

typedef struct sa__embed_cache sa__embed_cache;

/* max_bytes: memory budget. dir: NULL or the on-disk cache folder (created with its parents now; SA_ERR_IO when
 * it cannot be). warn (may be NULL) receives one line per rejected file and the first failed write; it is called
 * from the thread that met the problem, with no lock of the cache held. */
int sa__embed_cache_new(size_t max_bytes, const char *dir, sa__embed_warn_fn warn, void *warn_user,
                        sa__embed_cache **out, sa_error *err);
void sa__embed_cache_free(sa__embed_cache *c); /* no entry may be in use */
/* Called by a thread around its wait for another thread's work in flight: begin = 1 before, 0 after (e.g. to
 * give back a slot of a tool's gate meanwhile). No lock of the cache is held during the calls. Set before use. */
typedef void (*sa__embed_wait_fn)(void *user, int begin);
void sa__embed_cache_set_wait_hook(sa__embed_cache *c, sa__embed_wait_fn fn, void *user);

/* The embedding for key (shape as in *want): from memory, else from the disk folder, else compute(ctx). *out
 * stays valid until sa__embed_cache_release. Errors are compute()'s, SA_ERR_NOMEM, or SA_ERR_INVALID. */
int sa__embed_cache_get(sa__embed_cache *c, const sa__embed_key *key, const sa__embed_info *want,
                        sa__embed_compute_fn compute, void *ctx, const sa__embed **out,
                        sa_error *err);
void sa__embed_cache_release(sa__embed_cache *c, const sa__embed *e);
void sa__embed_cache_get_stats(sa__embed_cache *c, sa__embed_cache_stats *out);

/* ---- the file format (exposed for the tests and the fuzz target) ---- */
#define SA__EMBED_HEADER_BYTES 104
#define SA__EMBED_VERSION 1
/* The whole file for e, in a malloc'd buffer of *len bytes; NULL when out of memory or the shape overflows. */
unsigned char *sa__embed_file_encode(const sa__embed *e, size_t *len);
/* Parses and checks a file against what is expected (key, width, height, grid, chans). On success out->data
 * is malloc'd (caller frees) and out->info complete. SA_ERR_FORMAT (names what is wrong: bad magic, version,
 * truncated, checksum, non-finite value), SA_ERR_RANGE (a field disagrees with what is expected), SA_ERR_NOMEM.
 * what names the file in messages. */
int sa__embed_file_parse(const unsigned char *buf, size_t len, const sa__embed_key *key,
                         const sa__embed_info *want, const char *what, sa__embed *out,
                         sa_error *err);

#endif
