/* Named tensors from checkpoint files: Hugging Face safetensors (single file, or sharded with
 * model.safetensors.index.json) and the official PyTorch .pth (torch.save zip with a pickled state_dict, read
 * without executing anything).
 *
 *   sa_weights *w = NULL;
 *   sa_weights_open("sam-vit-base/", &w, &err);    // a directory, a .safetensors file, an index .json or a .pth
 *   const sa_tensor *t = sa_weights_find(w, "vision_encoder.pos_embed");
 *   float *buf = malloc(sa_tensor_numel(t) * sizeof(float));
 *   sa_tensor_to_f32(t, buf, sa_tensor_numel(t), &err);   // converts F16/BF16 to F32
 *   sa_weights_free(w);
 *
 * Names are kept as the file stores them; nothing here knows about any model. A model loader that accepts
 * several namings renames the tensors it sees with sa_weights_rename (the SAM loader maps the official .pth
 * names to the Hugging Face SamModel names this way, docs/sam.md "Name mapping").
 * Data is memory-mapped where the layout allows (safetensors, stored zip entries); tensors stay valid until
 * sa_weights_free. Every offset and size is checked against the file before use.
 *
 * Guarantees: t->data is aligned to the element size (copied into an owned block when the file does not allow),
 * so it may be read as `const float *` for F32. Tensor names are unique (duplicates are an error). A .pth whose
 * top-level dict has a "model" or "state_dict" dict loads that dict; non-tensor entries (counters, strings) are
 * skipped. Pickles are never executed: only the globals a state_dict needs are accepted, anything else is an
 * error naming the global.
 */
#ifndef SEGAGENT_WEIGHTS_H
#define SEGAGENT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_TENSOR_MAX_DIMS 8

typedef enum sa_dtype {
    SA_DTYPE_F32 = 0,
    SA_DTYPE_F16,
    SA_DTYPE_BF16,
    SA_DTYPE_F64,
    SA_DTYPE_U8,
    SA_DTYPE_I8,
    SA_DTYPE_I32,
    SA_DTYPE_I64,
    SA_DTYPE_BOOL
} sa_dtype;

const char *sa_dtype_name(sa_dtype dt);
size_t sa_dtype_size(sa_dtype dt);

typedef struct sa_tensor {
    const char *name;
    sa_dtype dtype;
    int ndim;
    int64_t shape[SA_TENSOR_MAX_DIMS];
    const void *data; /* contiguous, row-major (C order), little-endian */
    size_t nbytes;
} sa_tensor;

typedef struct sa_weights sa_weights;

/* Opens path: a directory (model.safetensors.index.json, model.safetensors, or a single *.pth / *.safetensors
 * inside), a .safetensors file, a .safetensors index JSON, or a .pth file (type found from the content).
 * config.json in the same directory is read when present; it must then be a JSON object (SA_ERR_PARSE /
 * SA_ERR_FORMAT naming it otherwise: a model described by a broken file is not loaded with defaults). A
 * safetensors file whose tensors share bytes is refused (SA_ERR_FORMAT naming both), and every size in a
 * .pth (zip entries, storages) is checked against the file and the tensor before anything is inflated.
 * Reading is O(n log n) in the number of tensors and index entries. On failure *out is NULL and err names the file and,
 * where there is one, the tensor. Returns SA_OK, SA_ERR_IO (cannot open/map), SA_ERR_FORMAT / SA_ERR_PARSE
 * (malformed or truncated), SA_ERR_UNSUPPORTED (unknown dtype, forbidden pickle global, compression method),
 * SA_ERR_NOT_FOUND (no weights file in a directory, tensor of an index in no shard), SA_ERR_RANGE (sizes that
 * do not match, e.g. a tensor's bytes and its shape; files or counts over a limit). */
int sa_weights_open(const char *path, sa_weights **out, sa_error *err);
/* Parses a safetensors image held in memory (the buffer must outlive the weights). For tests and fuzzing. */
int sa_weights_from_safetensors_buffer(const uint8_t *buf, size_t n, sa_weights **out,
                                       sa_error *err);
/* Parses a .pth (zip) image held in memory (the buffer must outlive the weights). For tests and fuzzing. */
int sa_weights_from_pth_buffer(const uint8_t *buf, size_t n, sa_weights **out, sa_error *err);
void sa_weights_free(sa_weights *w);

/* Pickle profiles for .pth files: which globals the restricted unpickler accepts.
 * SA_PTH_STATE_DICT: what sa_weights_open uses (OrderedDict, the tensor/parameter rebuilders, typed storages).
 * SA_PTH_SIMPLECLICK: exactly the six globals of SimpleClick's save_checkpoint (OrderedDict,
 * _rebuild_tensor_v2, FloatStorage; inside 'config' builtins' set and the loss module's CrossEntropyLoss and
 * cross_entropy, built as inert values); the top level must be {'state_dict': ..., 'config': ...} and the
 * config dict is kept as JSON (sa_weights_config_json: numbers, strings, lists, dicts; an object of an allowed
 * class as {"__object__": "module.Class"}, a function as its qualified name). */
enum { SA_PTH_STATE_DICT = 0, SA_PTH_SIMPLECLICK = 1 };
/* Opens a .pth file (only; no directory, no config.json beside it) with a profile. Errors as sa_weights_open;
 * a file that is not a zip is SA_ERR_FORMAT. */
int sa_weights_open_pth(const char *path, int profile, sa_weights **out, sa_error *err);
/* The same for a .pth image held in memory (the buffer must outlive the weights). For tests and fuzzing. */
int sa_weights_from_pth_buffer_profile(const uint8_t *buf, size_t n, int profile, sa_weights **out,
                                       sa_error *err);

int sa_weights_count(const sa_weights *w);
const sa_tensor *sa_weights_at(const sa_weights *w, int i);
const sa_tensor *sa_weights_find(const sa_weights *w, const char *name); /* NULL when absent */
/* "config.json" next to the weights, as a NUL-terminated string, or NULL when there is none. */
const char *sa_weights_config_json(const sa_weights *w);

/* Renaming: fn is called once per tensor, in order, with its current name. It returns SA_OK and sets
 * *new_name to a malloc'd new name (the collection takes it) or to NULL to keep the name, or it returns an
 * error code (with err set) to stop. Renaming is all or nothing: on any error, including two tensors ending
 * up with one name (SA_ERR_FORMAT), every name stays as it was. Invalidates sa_tensor.name pointers taken
 * before the call (the tensors themselves stay where they are). */
typedef int (*sa_weights_rename_fn)(void *ctx, const char *name, char **new_name, sa_error *err);
int sa_weights_rename(sa_weights *w, sa_weights_rename_fn fn, void *ctx, sa_error *err);

int64_t sa_tensor_numel(const sa_tensor *t);
/* Converts to float32 (F32/F16/BF16/F64/U8/I8/I32/I64). n must equal numel (else SA_ERR_RANGE). */
int sa_tensor_to_f32(const sa_tensor *t, float *dst, int64_t n, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
