/* The embedding cache (src/tools/embed_cache.h) and the SAM tool on it: the hash, the file format against
 * truncation, corruption and mismatch, the LRU by bytes, in-flight de-duplication across threads, the disk
 * folder (a corrupt file is reported once and recomputed), and the SAM tool giving bit-identical results
 * from memory, from disk and from a fresh encode (the tiny SAM fixture; skipped without ../shared). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "segagent/fileio.h"
#include "segagent/graphcut.h"
#include "segagent/sam.h"
#include "testutil.h"
#include "tools/embed_cache.h"

/* ---- hashing ---- */
static void test_hash(void) {
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    uint64_t whole[2], parts[2];
    sa__hasher h;
    sa__hasher_init(&h, 5);
    sa__hasher_update(&h, buf, sizeof buf);
    sa__hasher_final(&h, whole);
    const size_t cuts[] = {1, 7, 31, 32, 33, 100, 999};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        sa__hasher_init(&h, 5);
        for (size_t off = 0; off < sizeof buf; off += cuts[c]) {
            size_t n = sizeof buf - off < cuts[c] ? sizeof buf - off : cuts[c];
            sa__hasher_update(&h, buf + off, n);
        }
        sa__hasher_final(&h, parts);
        CHECKF(parts[0] == whole[0] && parts[1] == whole[1], "chunks of %zu", cuts[c]);
    }
    /* one flipped bit anywhere, a different length or seed: a different digest */
    for (int i = 0; i < 1000; i += 37) {
        buf[i] ^= 0x10;
        sa__hasher_init(&h, 5);
        sa__hasher_update(&h, buf, sizeof buf);
        sa__hasher_final(&h, parts);
        CHECKF(parts[0] != whole[0] && parts[1] != whole[1], "bit flip at %d", i);
        buf[i] ^= 0x10;
    }
    CHECK(sa__hash64(buf, 999) != sa__hash64(buf, 1000));
    unsigned char zeros[40] = {0};
    CHECK(sa__hash64(zeros, 39) != sa__hash64(zeros, 40)); /* zero padding does not collide */
}

/* ---- the file format ---- */
static sa__embed make_embed(int g, int d, float base) {
    sa__embed e;
    memset(&e, 0, sizeof e);
    e.key.model[0] = 11, e.key.model[1] = 12, e.key.image[0] = 21, e.key.image[1] = 22;
    e.info = (sa__embed_info){
        .width = 40, .height = 30, .new_w = 64, .new_h = 48, .grid_h = g, .grid_w = g, .chans = d};
    e.data = malloc((size_t)g * g * d * sizeof(float));
    for (int i = 0; i < g * g * d; i++)
        e.data[i] = base + 0.25f * (float)i;
    return e;
}

static void test_file_format(void) {
    sa__embed e = make_embed(4, 3, 1.0f);
    size_t len = 0;
    unsigned char *f = sa__embed_file_encode(&e, &len);
    CHECK(f && len == SA__EMBED_HEADER_BYTES + 4 * 4 * 3 * sizeof(float));
    if (!f) return;
    sa__embed_info want = e.info;
    want.new_w = want.new_h = 0;
    sa__embed got;
    sa_error err = {0};
    CHECK(sa__embed_file_parse(f, len, &e.key, &want, "x.emb", &got, &err) == SA_OK);
    CHECK(got.data && !memcmp(got.data, e.data, 48 * sizeof(float)));
    CHECK(got.info.new_w == 64 && got.info.new_h == 48);
    free(got.data);
    /* every truncation is refused */
    for (size_t n = 0; n < len; n++) {
        int rc = sa__embed_file_parse(f, n, &e.key, &want, "x.emb", &got, &err);
        CHECKF(rc == SA_ERR_FORMAT && !got.data, "truncated to %zu: %d", n, rc);
    }
    /* so is every single-byte change, header and payload */
    for (size_t i = 0; i < len; i++) {
        f[i] ^= 0x41;
        int rc = sa__embed_file_parse(f, len, &e.key, &want, "x.emb", &got, &err);
        CHECKF(rc != SA_OK && !got.data, "byte %zu changed: accepted", i);
        f[i] ^= 0x41;
    }
    /* a longer file */
    unsigned char *g2 = malloc(len + 4);
    memcpy(g2, f, len);
    memset(g2 + len, 0, 4);
    CHECK(sa__embed_file_parse(g2, len + 4, &e.key, &want, "x.emb", &got, &err) == SA_ERR_FORMAT);
    free(g2);
    /* another model, another image, another shape, another resize */
    sa__embed_key k2 = e.key;
    k2.model[1]++;
    CHECK(sa__embed_file_parse(f, len, &k2, &want, "x.emb", &got, &err) == SA_ERR_RANGE);
    CHECK(strstr(err.msg, "x.emb") && strstr(err.msg, "another model"));
    k2 = e.key;
    k2.image[0]++;
    CHECK(sa__embed_file_parse(f, len, &k2, &want, "x.emb", &got, &err) == SA_ERR_RANGE);
    sa__embed_info w2 = want;
    w2.chans = 4;
    CHECK(sa__embed_file_parse(f, len, &e.key, &w2, "x.emb", &got, &err) == SA_ERR_RANGE);
    w2 = want;
    w2.width = 41;
    CHECK(sa__embed_file_parse(f, len, &e.key, &w2, "x.emb", &got, &err) == SA_ERR_RANGE);
    w2 = want;
    w2.new_w = 63;
    CHECK(sa__embed_file_parse(f, len, &e.key, &w2, "x.emb", &got, &err) == SA_ERR_RANGE);
    free(f);
    /* a NaN that the checksums agree with is still refused */
    e.data[5] = NAN;
    f = sa__embed_file_encode(&e, &len);
    CHECK(sa__embed_file_parse(f, len, &e.key, &want, "x.emb", &got, &err) == SA_ERR_FORMAT);
    CHECK(strstr(err.msg, "finite") != NULL);
    free(f);
    free(e.data);
}

/* ---- the cache with a counting compute function ---- */
typedef struct fake_ctx {
    int calls;
    int fail;
    int sleep_ms;
    float value;
    pthread_mutex_t mu;
} fake_ctx;

static int fake_compute(void *vctx, sa__embed *out, sa_error *err) {
    fake_ctx *c = vctx;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    int fail = c->fail;
    pthread_mutex_unlock(&c->mu);
    if (c->sleep_ms) {
        struct timespec ts = {0, (long)c->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (fail) return sa_error_set(err, SA_ERR_IO, "fake failure");
    size_t n = (size_t)out->info.grid_h * out->info.grid_w * out->info.chans;
    out->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        out->data[i] = c->value + (float)i;
    out->info.new_w = 64;
    out->info.new_h = 48;
    return SA_OK;
}

static sa__embed_key key_of(int image) {
    sa__embed_key k = {{1, 2}, {(uint64_t)image, 99}};
    return k;
}

static const sa__embed_info k_want = {
    .width = 40, .height = 30, .grid_h = 4, .grid_w = 4, .chans = 8}; /* 512 bytes */

static void test_lru(void) {
    sa__embed_cache *c = NULL;
    sa_error err = {0};
    CHECK(sa__embed_cache_new(3 * 512, NULL, NULL, NULL, &c, &err) == SA_OK);
    fake_ctx f = {.value = 1.0f};
    pthread_mutex_init(&f.mu, NULL);
    const sa__embed *e = NULL;
    for (int img = 0; img < 3; img++) {
        sa__embed_key k = key_of(img);
        CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
        sa__embed_cache_release(c, e);
    }
    CHECK(f.calls == 3);
    sa__embed_key k0 = key_of(0), k3 = key_of(3);
    CHECK(sa__embed_cache_get(c, &k0, &k_want, fake_compute, &f, &e, &err) == SA_OK); /* hit */
    CHECK(f.calls == 3 && e->data[1] == 2.0f && e->info.new_w == 64);
    sa__embed_cache_release(c, e); /* 0 is now the most recent: 1 is the oldest */
    CHECK(sa__embed_cache_get(c, &k3, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    sa__embed_cache_release(c, e);
    sa__embed_cache_stats st;
    sa__embed_cache_get_stats(c, &st);
    CHECK(st.entries == 3 && st.bytes == 3 * 512 && st.computed == 4 && st.mem_hits == 1);
    sa__embed_key k1 = key_of(1);
    CHECK(sa__embed_cache_get(c, &k1, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    CHECK(f.calls == 5); /* 1 was evicted */
    sa__embed_cache_release(c, e);
    CHECK(sa__embed_cache_get(c, &k0, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    CHECK(f.calls == 5); /* 0 was kept */
    /* an entry in use is never evicted, even over budget */
    const sa__embed *held = e;
    for (int img = 10; img < 20; img++) {
        sa__embed_key k = key_of(img);
        CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
        sa__embed_cache_release(c, e);
    }
    CHECK(held->data[0] == 1.0f && held->key.image[0] == 0);
    sa__embed_cache_release(c, held);
    sa__embed_cache_get_stats(c, &st);
    CHECK(st.bytes <= 3 * 512);
    /* a failure is returned and not kept */
    f.fail = 1;
    sa__embed_key k50 = key_of(50);
    CHECK(sa__embed_cache_get(c, &k50, &k_want, fake_compute, &f, &e, &err) == SA_ERR_IO && !e);
    f.fail = 0;
    CHECK(sa__embed_cache_get(c, &k50, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    sa__embed_cache_release(c, e);
    sa__embed_cache_free(c);
    /* budget 0: nothing kept once released */
    CHECK(sa__embed_cache_new(0, NULL, NULL, NULL, &c, &err) == SA_OK);
    f.calls = 0;
    for (int r = 0; r < 2; r++) {
        CHECK(sa__embed_cache_get(c, &k0, &k_want, fake_compute, &f, &e, &err) == SA_OK);
        sa__embed_cache_release(c, e);
    }
    CHECK(f.calls == 2);
    sa__embed_cache_free(c);
    pthread_mutex_destroy(&f.mu);
}

typedef struct racer {
    sa__embed_cache *c;
    fake_ctx *f;
    int image;
    int rc;
    float first;
} racer;

static void *race_main(void *arg) {
    racer *r = arg;
    sa__embed_key k = key_of(r->image);
    const sa__embed *e = NULL;
    sa_error err = {0};
    r->rc = sa__embed_cache_get(r->c, &k, &k_want, fake_compute, r->f, &e, &err);
    if (r->rc == SA_OK) {
        r->first = e->data[0];
        sa__embed_cache_release(r->c, e);
    }
    return NULL;
}

typedef struct hook_count {
    pthread_mutex_t mu;
    int begins, ends, open;
} hook_count;

static void count_hook(void *user, int begin) {
    hook_count *h = user;
    pthread_mutex_lock(&h->mu);
    if (begin)
        h->begins++, h->open++;
    else
        h->ends++, h->open--;
    pthread_mutex_unlock(&h->mu);
}

static void test_inflight(void) {
    sa__embed_cache *c = NULL;
    sa_error err = {0};
    CHECK(sa__embed_cache_new(1 << 20, NULL, NULL, NULL, &c, &err) == SA_OK);
    hook_count hc = {.begins = 0};
    pthread_mutex_init(&hc.mu, NULL);
    sa__embed_cache_set_wait_hook(c, count_hook, &hc);
    fake_ctx f = {.sleep_ms = 100, .value = 7.0f};
    pthread_mutex_init(&f.mu, NULL);
    enum { N = 8 };
    racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.c = c, .f = &f, .image = i < 6 ? 1 : 2};
        pthread_create(&th[i], NULL, race_main, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK(r[i].rc == SA_OK && r[i].first == 7.0f);
    sa__embed_cache_stats st;
    sa__embed_cache_get_stats(c, &st);
    CHECKF(f.calls == 2 && st.computed == 2, "%d computations for 2 images", f.calls);
    CHECK(st.mem_hits == N - 2);
    CHECK(st.waits >= 1 && st.waits <= N - 2);
    CHECK(hc.begins == st.waits && hc.ends == st.waits && hc.open == 0); /* one pair per wait */
    /* in flight and failing: every waiter tries itself, one at a time; all see the failure */
    f.fail = 1;
    f.calls = 0;
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){.c = c, .f = &f, .image = 3};
        pthread_create(&th[i], NULL, race_main, &r[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(r[i].rc == SA_ERR_IO);
    CHECK(f.calls == 4);
    CHECK(hc.begins == hc.ends && hc.open == 0);
    sa__embed_cache_free(c);
    pthread_mutex_destroy(&f.mu);
    pthread_mutex_destroy(&hc.mu);
}

/* ---- the disk folder ---- */
typedef struct warn_log {
    int n;
    char last[600];
} warn_log;

static void on_warn(void *user, const char *msg) {
    warn_log *w = user;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static char *only_file(const char *dir) {
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.emb' -type f", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char line[4200] = {0};
    char *r = fgets(line, sizeof line, p) ? strdup(line) : NULL;
    char extra[10];
    if (fgets(extra, sizeof extra, p)) { /* more than one */
        free(r);
        r = NULL;
    }
    pclose(p);
    if (r) r[strcspn(r, "\n")] = '\0';
    return r;
}

static void test_disk(void) {
    char *tmp = tu_tmpdir();
    char *dir = sa_path_join(tmp, "cache/a");
    sa_error err = {0};
    fake_ctx f = {.value = 3.0f};
    pthread_mutex_init(&f.mu, NULL);
    warn_log wl = {0};
    sa__embed_cache *c = NULL;
    CHECK(sa__embed_cache_new(1 << 20, dir, on_warn, &wl, &c, &err) == SA_OK);
    const sa__embed *e = NULL;
    sa__embed_key k = key_of(5);
    CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    sa__embed_cache_release(c, e);
    sa__embed_cache_stats st;
    sa__embed_cache_get_stats(c, &st);
    CHECK(st.computed == 1 && st.disk_writes == 1 && f.calls == 1);
    sa__embed_cache_free(c);
    char *file = only_file(dir);
    CHECK(file != NULL);
    /* a new cache (another run): read from disk, nothing computed */
    CHECK(sa__embed_cache_new(1 << 20, dir, on_warn, &wl, &c, &err) == SA_OK);
    CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
    CHECK(e->data[3] == 6.0f && e->info.new_h == 48);
    sa__embed_cache_release(c, e);
    sa__embed_cache_get_stats(c, &st);
    CHECKF(st.disk_hits == 1 && st.computed == 0 && f.calls == 1 && wl.n == 0, "%ld %ld %d %d %s",
           st.disk_hits, st.computed, f.calls, wl.n, wl.last);
    sa__embed_cache_free(c);
    /* corrupt (one byte of the payload), truncated, garbage: reported once each, recomputed, rewritten */
    for (int kind = 0; kind < 3 && file; kind++) {
        size_t len = 0;
        char *bytes = tu_read_file(file, &len);
        CHECK(bytes && len > SA__EMBED_HEADER_BYTES);
        if (!bytes) break;
        if (kind == 0) bytes[len - 3] ^= 1;
        if (kind == 1) len -= 5;
        if (kind == 2) memset(bytes, 'x', len);
        CHECK(sa_file_write(file, bytes, len, &err) == SA_OK);
        free(bytes);
        int calls0 = f.calls, warns0 = wl.n;
        CHECK(sa__embed_cache_new(1 << 20, dir, on_warn, &wl, &c, &err) == SA_OK);
        for (int r = 0; r < 2; r++) {
            CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
            CHECK(e->data[3] == 6.0f);
            sa__embed_cache_release(c, e);
        }
        sa__embed_cache_get_stats(c, &st);
        CHECKF(wl.n == warns0 + 1 && st.disk_rejected == 1, "kind %d: %d warnings", kind,
               wl.n - warns0);
        CHECK(strstr(wl.last, file) != NULL && strstr(wl.last, "recomputing") != NULL);
        CHECK(f.calls == calls0 + 1 && st.disk_writes == 1);
        sa__embed_cache_free(c);
        /* the rewritten file is good again */
        CHECK(sa__embed_cache_new(1 << 20, dir, on_warn, &wl, &c, &err) == SA_OK);
        CHECK(sa__embed_cache_get(c, &k, &k_want, fake_compute, &f, &e, &err) == SA_OK);
        sa__embed_cache_release(c, e);
        sa__embed_cache_get_stats(c, &st);
        CHECK(st.disk_hits == 1 && wl.n == warns0 + 1);
        sa__embed_cache_free(c);
    }
    /* a folder that cannot be made */
    char *blocker = sa_path_join(tmp, "file");
    CHECK(sa_file_write_text(blocker, "x", &err) == SA_OK);
    char *bad = sa_path_join(blocker, "sub");
    CHECK(sa__embed_cache_new(1 << 20, bad, NULL, NULL, &c, &err) == SA_ERR_IO && !c);
    free(bad);
    free(blocker);
    free(file);
    free(dir);
    tu_rmtree(tmp);
    free(tmp);
    pthread_mutex_destroy(&f.mu);
}

/* ---- the SAM tool ---- */
static int same_result(const sa_tool_result *a, const sa_tool_result *b) {
    size_t n = (size_t)a->mask.width * a->mask.height;
    return a->mask.width == b->mask.width && a->mask.height == b->mask.height &&
           !memcmp(a->mask.data, b->mask.data, n) && !memcmp(a->prob, b->prob, n * sizeof(float)) &&
           a->n_aux == b->n_aux && !memcmp(a->aux, b->aux, a->n_aux * sizeof(float)) &&
           a->score == b->score;
}

/* Two clicks on img with tool: the results of each step into r[0..1]. */
static int two_clicks(sa_tool *tool, const sa_image *img, sa_tool_result r[2]) {
    sa_error err = {0};
    sa_tool_session *s = NULL;
    if (sa_tool_session_new(tool, img, &s, &err) != SA_OK) {
        fprintf(stderr, "session: %s\n", err.msg);
        return -1;
    }
    sa_click clicks[2] = {{.y = img->height / 2, .x = img->width / 3, .positive = 1},
                          {.y = img->height / 4, .x = img->width / 2, .positive = 0}};
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        sa_tool_request req = {.clicks = clicks, .n_clicks = i + 1, .prev = i ? &r[0] : NULL};
        rc = sa_tool_session_predict(s, &req, &r[i], &err);
    }
    sa_tool_session_free(s);
    return rc;
}

static sa_tool *load_tool(const char *path) {
    sa_sam_model *m = NULL;
    sa_tool *t = NULL;
    sa_error err = {0};
    if (sa_sam_model_load(path, sa_sam_default_params(), &m, &err) ||
        sa_sam_tool_new(m, &t, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return NULL;
    }
    return t;
}

static void free_results(sa_tool_result *r, int n) {
    for (int i = 0; i < n; i++)
        sa_tool_result_free(&r[i]);
}

static void test_sam_tool(void) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "SAM part skipped: no shared folder\n");
        return;
    }
    char *fix = tu_shared_path("fixtures/sam/tiny");
    char *png = tu_shared_path("fixtures/sam/tiny/image.png");
    sa_image img = {0}, img2 = {0};
    sa_error err = {0};
    CHECK(sa_image_load(png, &img, &err) == SA_OK);
    CHECK(sa_image_copy(&img, &img2, &err) == SA_OK);
    for (int y = 0; y < img2.height / 3; y++) /* a dark corner: another image */
        memset(img2.data + (size_t)y * img2.width * 3, 0, (size_t)img2.width);

    /* reference: no cache kept (budget 0), every session encodes */
    sa_tool *ref = load_tool(fix);
    sa_tool_cache_params cp = sa_tool_cache_default_params();
    cp.max_bytes = 0;
    CHECK(ref && sa_tool_set_cache(ref, cp, &err) == SA_OK);
    sa_tool_result r0[2] = {0}, r1[2] = {0}, r2[2] = {0}, r3[2] = {0};
    CHECK(two_clicks(ref, &img, r0) == 0);
    CHECK(two_clicks(ref, &img, r1) == 0);
    sa_tool_stats st;
    sa_tool_get_stats(ref, &st);
    CHECK(st.image_work == 2 && st.sessions == 2 && st.predicts == 4);

    /* the default tool: the second session on the image is served from memory, bit-identical */
    sa_tool *mem = load_tool(fix);
    CHECK(mem != NULL);
    CHECK(two_clicks(mem, &img, r2) == 0);
    CHECK(two_clicks(mem, &img, r3) == 0);
    sa_tool_get_stats(mem, &st);
    CHECK(st.image_work == 1 && st.mem_hits == 1 && st.cache_entries == 1);
    for (int i = 0; i < 2; i++)
        CHECKF(same_result(&r0[i], &r1[i]) && same_result(&r0[i], &r2[i]) &&
                   same_result(&r0[i], &r3[i]),
               "step %d differs", i + 1);
    free_results(r2, 2);
    CHECK(two_clicks(mem, &img2, r2) == 0); /* another image is encoded */
    sa_tool_get_stats(mem, &st);
    CHECK(st.image_work == 2);
    CHECK(memcmp(r2[0].prob, r0[0].prob, (size_t)img.width * img.height * sizeof(float)) != 0 ||
          r2[0].score != r0[0].score); /* the change reaches the output */
    free_results(r2, 2);
    free_results(r3, 2);

    /* the disk: one run writes, a second tool (another path to the same weights) only reads */
    char *tmp = tu_tmpdir();
    char *dir = sa_path_join(tmp, "emb");
    cp = sa_tool_cache_default_params();
    cp.dir = dir;
    CHECK(sa_tool_set_cache(mem, cp, &err) == SA_OK);
    CHECK(two_clicks(mem, &img, r2) == 0);
    sa_tool_get_stats(mem, &st);
    CHECK(st.disk_writes == 1 && st.disk_hits == 0);
    free_results(r2, 2);
    char *copy = sa_path_join(tmp, "copy");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/model.safetensors' '%s/config.json' '%s/'",
             copy, fix, fix, copy);
    CHECK(system(cmd) == 0);
    sa_tool *second = load_tool(copy);
    warn_log wl = {0};
    cp.warn = on_warn;
    cp.warn_user = &wl;
    CHECK(second && sa_tool_set_cache(second, cp, &err) == SA_OK);
    CHECK(two_clicks(second, &img, r2) == 0);
    sa_tool_get_stats(second, &st);
    CHECK(st.image_work == 0 && st.disk_hits == 1 && wl.n == 0);
    for (int i = 0; i < 2; i++)
        CHECKF(same_result(&r0[i], &r2[i]), "from disk: step %d differs", i + 1);
    free_results(r2, 2);

    /* other weights in the same folder: no hit (the key is the weights, not the path) */
    sa_tool *other = NULL;
    {
        sa_sam_model *m = NULL;
        CHECK(sa_sam_model_load(fix, sa_sam_default_params(), &m, &err) == SA_OK);
        sa_sam_arch a = *sa_sam_model_arch(m);
        sa_sam_model_free(m);
        CHECK(sa_sam_model_random(&a, 7, sa_sam_default_params(), &m, &err) == SA_OK);
        CHECK(sa_sam_tool_new(m, &other, &err) == SA_OK);
    }
    CHECK(other && sa_tool_set_cache(other, cp, &err) == SA_OK);
    CHECK(two_clicks(other, &img, r2) == 0);
    sa_tool_get_stats(other, &st);
    CHECK(st.image_work == 1 && st.disk_hits == 0 && st.disk_writes == 1 && wl.n == 0);
    free_results(r2, 2);

    /* graph cut keeps no cache */
    sa_tool *gc = NULL;
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &gc, &err) == SA_OK);
    CHECK(sa_tool_set_cache(gc, cp, &err) == SA_ERR_UNSUPPORTED);
    CHECK(sa_tool_set_cache(NULL, cp, &err) == SA_ERR_INVALID);
    sa_tool_free(gc);

    sa_tool_free(other);
    sa_tool_free(second);
    sa_tool_free(mem);
    sa_tool_free(ref);
    free_results(r0, 2);
    free_results(r1, 2);
    sa_image_free(&img);
    sa_image_free(&img2);
    tu_rmtree(tmp);
    free(tmp);
    free(dir);
    free(copy);
    free(fix);
    free(png);
}

int main(void) {
    test_hash();
    test_file_format();
    test_lru();
    test_inflight();
    test_disk();
    test_sam_tool();
    return tu_finish("test_embed_cache");
}
