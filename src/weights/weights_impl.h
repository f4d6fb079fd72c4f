/* Internal interface between the weight collection (weights.c), the entry points that fill it
 * (weights_open.c) and the format readers (safetensors.c, pth.c). A reader appends tensors whose
 * data points into memory the collection keeps alive (a mapped file, a caller buffer, or a block
 * handed over with sa__weights_keep); sa__weights_finish then rejects duplicate names and builds
 * the lookup index. */
#ifndef SEGAGENT_WEIGHTS_IMPL_H
#define SEGAGENT_WEIGHTS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/weights.h"
#include "base/util.h"

/* Largest safetensors JSON header and largest pickle we accept. */
#define SA__WEIGHTS_MAX_HEADER ((uint64_t)100 * 1024 * 1024)

/* An empty collection, or NULL when out of memory. */
sa_weights *sa__weights_new(void);

/* Appends a tensor; the name is copied. Checks ndim, non-negative dims, numel * dtype size ==
 * nbytes (overflow-checked; a mismatch is SA_ERR_RANGE). Data that is not aligned to the element
 * size is copied into an owned, aligned block. `what` names the source (file) for messages. */
int sa__weights_add(sa_weights *w, const char *what, const char *name, sa_dtype dt, int ndim,
                    const int64_t *shape, const void *data, size_t nbytes, sa_error *err);

/* Hands a block to the collection: freed (or munmapped when is_mmap) by sa_weights_free. On failure
 * to record it, the block is released at once and SA_ERR_NOMEM returned. */
int sa__weights_keep(sa_weights *w, void *p, size_t len, int is_mmap, sa_error *err);

/* Duplicate check (SA_ERR_FORMAT naming the tensor) and the lookup index; call once all tensors are
 * in. */
int sa__weights_finish(sa_weights *w, const char *what, sa_error *err);

/* Keeps json (malloc'd, NUL-terminated; the collection frees it) as sa_weights_config_json. */
void sa__weights_set_config(sa_weights *w, char *json);

/* Parses a safetensors image in buf[0..n) and appends its tensors (data points into buf). */
int sa__safetensors_parse(sa_weights *w, const uint8_t *buf, size_t n, const char *what,
                          sa_error *err);

/* Parses a torch.save zip image in buf[0..n) and appends its tensors. */
int sa__pth_parse(sa_weights *w, const uint8_t *buf, size_t n, const char *what, sa_error *err);
/* The same with a pickle profile (SA_PTH_*): its allowlist of globals and, for SA_PTH_SIMPLECLICK, the
 * top-level 'config' dict kept as the collection's config JSON. */
int sa__pth_parse_profile(sa_weights *w, const uint8_t *buf, size_t n, const char *what,
                          int profile, sa_error *err);

#endif
