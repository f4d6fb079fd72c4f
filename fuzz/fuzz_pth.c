/* libFuzzer target: torch.save zip + pickle parsing from memory (zip directory, zip64 fields,
 * deflate, the restricted pickle VM, storage views), then the SAM loader's renaming of official
 * names. Every accepted tensor is read end to end. Seeds: fuzz/corpus/pth. */
#include <stdint.h>
#include <stdlib.h>

#include "sam/sam_names.h"
#include "segagent/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_weights *w = NULL;
    sa_error err = {0};
    if (sa_weights_from_pth_buffer(data, size, &w, &err) != SA_OK) return 0;
    sa__sam_map_weights(w, "<fuzz>", &err); /* on failure the names stay as they were */
    for (int i = 0; i < sa_weights_count(w); i++) {
        const sa_tensor *t = sa_weights_at(w, i);
        int64_t n = sa_tensor_numel(t);
        if (n < 0 || n > (1 << 22)) continue;
        float *f = malloc((size_t)n * sizeof *f + 1);
        if (f) sa_tensor_to_f32(t, f, n, &err);
        free(f);
        if (sa_weights_find(w, t->name) != t) abort();
    }
    sa_weights_free(w);
    return 0;
}
