/* The image store (see store.h). A plain array of entries is enough: a server holds at most
 * max_images images and every lookup is a scan of short strings, far cheaper than the tool call
 * that follows. Recency is a counter stamped on each use. The state size is an estimate (image
 * copies, masks, and per tool: the SAM embedding and its high-resolution features, or the graph
 * cut's per-pixel weights), as the tool contract does not report sizes. */
#include "server/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

struct sa__entry {
    char id[SA__ID_LEN];
    char *key;
    sa_image image;
    sa_env *env;          /* NULL until encoded, and after eviction */
    pthread_mutex_t lock; /* guards env while a request uses it */
    int refs;             /* users (requests, the encoder) holding it; store lock */
    int removed;          /* unregistered: freed at the last release */
    uint64_t used;        /* recency stamp */
    size_t image_bytes, state_bytes;
};

struct sa__store {
    sa_tool *tool;
    size_t budget;
    int max_images, background;
    pthread_mutex_t lock;
    sa__entry **items;
    int n;
    uint64_t clock, rng;
    sa__store_stats st;
    /* background encoder: a FIFO of acquired entries */
    pthread_t thread;
    int thread_started, stop;
    pthread_cond_t cond;
    sa__entry **queue;
    int q_head, q_len, q_cap;
};

static size_t state_estimate(const sa_tool *tool, const sa_image *img) {
    size_t px = (size_t)img->width * (size_t)img->height;
    size_t bytes = px * 3 * 2 + px * 2; /* env and session image copies, current mask and result */
    if (!strcmp(sa_tool_name(tool), "sam"))
        bytes += (size_t)256 * 64 * 64 * 4 * 3 + px * 4;
    else
        bytes += px * 40; /* graph cut: edge weights, colour model terms, labels */
    return bytes;
}

static void entry_free(sa__entry *e) {
    if (!e) return;
    sa_env_free(e->env);
    sa_image_free(&e->image);
    free(e->key);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* Removes index i from the table (store lock held); frees it unless in use. */
static void drop_at(sa__store *st, int i) {
    sa__entry *e = st->items[i];
    st->st.bytes -= e->image_bytes + e->state_bytes;
    if (e->env) st->st.encoded--;
    st->st.images--;
    st->items[i] = st->items[--st->n];
    e->removed = 1;
    if (e->refs == 0) entry_free(e);
}

/* Evicts until within budget (store lock held): tool state of idle entries first, then idle images.
 */
static void enforce_budget(sa__store *st) {
    while (st->st.bytes > st->budget) {
        int best = -1;
        for (int i = 0; i < st->n; i++) {
            sa__entry *e = st->items[i];
            if (e->refs == 0 && e->env && (best < 0 || e->used < st->items[best]->used)) best = i;
        }
        if (best >= 0) {
            sa__entry *e = st->items[best];
            sa_env_free(e->env); /* idle: nobody holds its lock */
            e->env = NULL;
            st->st.bytes -= e->state_bytes;
            e->state_bytes = 0;
            st->st.encoded--;
            st->st.evicted_states++;
            continue;
        }
        for (int i = 0; i < st->n; i++)
            if (st->items[i]->refs == 0 && (best < 0 || st->items[i]->used < st->items[best]->used))
                best = i;
        if (best < 0) break; /* everything left is in use */
        drop_at(st, best);
        st->st.evicted_images++;
    }
}

/* Creates the env of a locked entry whose state is missing. */
static int encode(sa__store *st, sa__entry *e, sa_error *err) {
    sa_env *env = NULL;
    double t0 = sa__now_ms();
    int rc = sa_env_new(st->tool, sa_env_default_params(), &env, err);
    if (!rc) rc = sa_env_reset(env, &e->image, "", NULL, NULL, NULL, err);
    if (rc) {
        sa_env_free(env);
        return rc;
    }
    double ms = sa__now_ms() - t0;
    size_t bytes = state_estimate(st->tool, &e->image);
    pthread_mutex_lock(&st->lock);
    e->env = env;
    e->state_bytes = bytes;
    if (!e->removed) {
        st->st.bytes += bytes;
        st->st.encoded++;
    }
    st->st.encodes++;
    st->st.encode_ms += ms;
    e->refs++; /* keep this entry while making room for it */
    enforce_budget(st);
    e->refs--;
    pthread_mutex_unlock(&st->lock);
    return SA_OK;
}

static void *encoder_main(void *arg) {
    sa__store *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (!st->stop && st->q_len == 0)
            pthread_cond_wait(&st->cond, &st->lock);
        if (st->stop) break;
        sa__entry *e = st->queue[st->q_head];
        st->q_head = (st->q_head + 1) % st->q_cap;
        st->q_len--;
        pthread_mutex_unlock(&st->lock);
        pthread_mutex_lock(&e->lock);
        if (!e->env && !e->removed)
            encode(st, e, NULL); /* a failure shows again on first use, with a message */
        pthread_mutex_unlock(&e->lock);
        sa__store_release(st, e);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int sa__store_new(sa_tool *tool, size_t budget_bytes, int max_images, int background,
                  sa__store **out, sa_error *err) {
    *out = NULL;
    if (!tool || max_images < 1) return sa_error_set(err, SA_ERR_INVALID, "store: bad arguments");
    sa__store *st = calloc(1, sizeof *st);
    if (!st) return sa_error_set(err, SA_ERR_NOMEM, "store: out of memory");
    st->tool = tool;
    st->budget = budget_bytes;
    st->max_images = max_images;
    st->background = background;
    st->items = calloc((size_t)max_images, sizeof *st->items);
    st->q_cap = max_images;
    st->queue = calloc((size_t)max_images, sizeof *st->queue);
    st->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)st;
    st->st.budget = budget_bytes;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    if (!st->items || !st->queue) {
        sa__store_free(st);
        return sa_error_set(err, SA_ERR_NOMEM, "store: out of memory");
    }
    if (background) {
        if (pthread_create(&st->thread, NULL, encoder_main, st)) {
            sa__store_free(st);
            return sa_error_set(err, SA_ERR_NOMEM, "store: cannot start the encoder thread");
        }
        st->thread_started = 1;
    }
    *out = st;
    return SA_OK;
}

void sa__store_free(sa__store *st) {
    if (!st) return;
    if (st->thread_started) {
        pthread_mutex_lock(&st->lock);
        st->stop = 1;
        pthread_cond_broadcast(&st->cond);
        pthread_mutex_unlock(&st->lock);
        pthread_join(st->thread, NULL);
    }
    for (int i = 0; i < st->q_len; i++)
        st->queue[(st->q_head + i) % st->q_cap]->refs--;
    for (int i = 0; i < st->n; i++)
        entry_free(st->items[i]);
    free(st->items);
    free(st->queue);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int find(const sa__store *st, const char *id) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->items[i]->id, id)) return i;
    return -1;
}

int sa__store_add(sa__store *st, sa_image *img, const char *key, char id[SA__ID_LEN],
                  sa_error *err) {
    sa__entry *e = calloc(1, sizeof *e);
    if (!e) return sa_error_set(err, SA_ERR_NOMEM, "store: out of memory");
    if (key && !(e->key = sa__strdup(key))) {
        free(e);
        return sa_error_set(err, SA_ERR_NOMEM, "store: out of memory");
    }
    pthread_mutex_init(&e->lock, NULL);
    e->image = *img;
    memset(img, 0, sizeof *img);
    e->image_bytes = (size_t)e->image.width * (size_t)e->image.height * (size_t)e->image.channels;
    pthread_mutex_lock(&st->lock);
    if (key)
        for (int i = 0; i < st->n; i++)
            if (st->items[i]->key && !strcmp(st->items[i]->key, key)) {
                drop_at(st, i);
                break;
            }
    if (st->n >= st->max_images) { /* make room: the least recently used idle image goes */
        int best = -1;
        for (int i = 0; i < st->n; i++)
            if (st->items[i]->refs == 0 && (best < 0 || st->items[i]->used < st->items[best]->used))
                best = i;
        if (best < 0) {
            pthread_mutex_unlock(&st->lock);
            entry_free(e);
            return sa_error_set(err, SA_ERR_RANGE, "store: %d images registered and all in use",
                                st->max_images);
        }
        drop_at(st, best);
        st->st.evicted_images++;
    }
    do {
        snprintf(e->id, sizeof e->id, "%016llx", (unsigned long long)sa__rng_next(&st->rng));
    } while (find(st, e->id) >= 0);
    e->used = ++st->clock;
    st->items[st->n++] = e;
    st->st.images++;
    st->st.bytes += e->image_bytes;
    memcpy(id, e->id, SA__ID_LEN);
    if (st->background && st->q_len < st->q_cap) {
        e->refs++;
        st->queue[(st->q_head + st->q_len++) % st->q_cap] = e;
        pthread_cond_signal(&st->cond);
    }
    e->refs++; /* the new image is not evicted to make room for itself */
    enforce_budget(st);
    e->refs--;
    pthread_mutex_unlock(&st->lock);
    return SA_OK;
}

sa__entry *sa__store_acquire(sa__store *st, const char *id) {
    if (!id) return NULL;
    pthread_mutex_lock(&st->lock);
    int i = find(st, id);
    sa__entry *e = i >= 0 ? st->items[i] : NULL;
    if (e) {
        e->refs++;
        e->used = ++st->clock;
    }
    pthread_mutex_unlock(&st->lock);
    return e;
}

sa__entry *sa__store_find_key(sa__store *st, const char *key) {
    if (!key) return NULL;
    pthread_mutex_lock(&st->lock);
    sa__entry *e = NULL;
    for (int i = 0; i < st->n && !e; i++)
        if (st->items[i]->key && !strcmp(st->items[i]->key, key)) e = st->items[i];
    if (e) {
        e->refs++;
        e->used = ++st->clock;
    }
    pthread_mutex_unlock(&st->lock);
    return e;
}

void sa__store_release(sa__store *st, sa__entry *e) {
    if (!e) return;
    pthread_mutex_lock(&st->lock);
    int gone = --e->refs == 0 && e->removed;
    if (!gone && e->refs == 0) enforce_budget(st);
    pthread_mutex_unlock(&st->lock);
    if (gone) entry_free(e);
}

int sa__store_remove(sa__store *st, const char *id) {
    pthread_mutex_lock(&st->lock);
    int i = find(st, id);
    if (i >= 0) drop_at(st, i);
    pthread_mutex_unlock(&st->lock);
    return i >= 0 ? SA_OK : SA_ERR_NOT_FOUND;
}

int sa__entry_lock_env(sa__store *st, sa__entry *e, sa_env **env, int *cached, sa_error *err) {
    pthread_mutex_lock(&e->lock);
    int c = e->env != NULL;
    if (!c) {
        int rc = encode(st, e, err);
        if (rc) {
            pthread_mutex_unlock(&e->lock);
            return rc;
        }
    }
    pthread_mutex_lock(&st->lock);
    if (c)
        st->st.hits++;
    else
        st->st.misses++;
    pthread_mutex_unlock(&st->lock);
    *env = e->env;
    if (cached) *cached = c;
    return SA_OK;
}

void sa__entry_unlock(sa__store *st, sa__entry *e) {
    (void)st;
    pthread_mutex_unlock(&e->lock);
}

const sa_image *sa__entry_image(const sa__entry *e) {
    return &e->image;
}

const char *sa__entry_id(const sa__entry *e) {
    return e->id;
}

int sa__entry_encoded(sa__store *st, const sa__entry *e) {
    pthread_mutex_lock(&st->lock);
    int r = e->env != NULL;
    pthread_mutex_unlock(&st->lock);
    return r;
}

void sa__store_get_stats(sa__store *st, sa__store_stats *s) {
    pthread_mutex_lock(&st->lock);
    *s = st->st;
    pthread_mutex_unlock(&st->lock);
}
