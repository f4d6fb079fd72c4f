/* Internal: the server's registered images and their per-image tool state, kept in an LRU bounded
 * in bytes.
 *
 * An entry holds the image and, once encoded, an sa_env reset on it (the env owns the tool session:
 * the SAM embedding, the graph cut's colour models). Encoding happens on a background thread right
 * after registration (when asked) or on first use. Over the byte budget, the least recently used
 * entries not in use lose their tool state first, then whole images (a later request for them gets
 * "unknown image").
 *
 *   sa__entry *e = sa__store_acquire(st, id);          // NULL: unknown id; the entry stays alive
 * until release sa_env *env; int cached; if (sa__entry_lock_env(st, e, &env, &cached, &err) ==
 * SA_OK) {   // one request at a time per image
 *       ... sa_env_predict_request(env, ...) ...
 *       sa__entry_unlock(st, e);
 *   }
 *   sa__store_release(st, e);
 *
 * Locks: the store's mutex guards the table, reference counts and byte counts; each entry's mutex
 * guards its env. An entry lock may be held while taking the store lock, never the other way round.
 */
#ifndef SEGAGENT_SERVER_STORE_H
#define SEGAGENT_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/env.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/tool.h"

#define SA__ID_LEN 17 /* 16 hex digits and the NUL */

typedef struct sa__store sa__store;
typedef struct sa__entry sa__entry;

typedef struct sa__store_stats {
    long images, encoded;
    size_t bytes, budget;
    long hits, misses, evicted_states, evicted_images, encodes;
    double encode_ms; /* total time spent encoding */
} sa__store_stats;

/* background: encode new images on the store's own thread. */
int sa__store_new(sa_tool *tool, size_t budget_bytes, int max_images, int background,
                  sa__store **out, sa_error *err);
/* Stops the encoder thread and frees every entry (no entry may be in use). */
void sa__store_free(sa__store *st);

/* Registers *img (ownership taken, *img zeroed) under a new id. key (may be NULL) names the source
 * (a Label Studio URL) so sa__store_find_key finds it again; an existing entry with the same key is
 * replaced. */
int sa__store_add(sa__store *st, sa_image *img, const char *key, char id[SA__ID_LEN],
                  sa_error *err);
/* The entry with this id or key, its reference count raised; NULL when unknown. */
sa__entry *sa__store_acquire(sa__store *st, const char *id);
sa__entry *sa__store_find_key(sa__store *st, const char *key);
void sa__store_release(sa__store *st, sa__entry *e);
/* Unregisters an id (freed once the last user releases it). SA_ERR_NOT_FOUND when unknown. */
int sa__store_remove(sa__store *st, const char *id);

/* Locks the entry and returns its env, encoding the image first when its state is missing (*cached
 * = 0). */
int sa__entry_lock_env(sa__store *st, sa__entry *e, sa_env **env, int *cached, sa_error *err);
void sa__entry_unlock(sa__store *st, sa__entry *e);
const sa_image *sa__entry_image(const sa__entry *e);
const char *sa__entry_id(const sa__entry *e);
/* 1 when the tool state is present (a snapshot: it may be evicted right after). */
int sa__entry_encoded(sa__store *st, const sa__entry *e);

void sa__store_get_stats(sa__store *st, sa__store_stats *s);

#endif
