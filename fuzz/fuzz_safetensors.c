/* libFuzzer target: safetensors parsing from memory. Every accepted tensor is read end to end
 * (converted to float32) so that an out-of-range pointer shows up under AddressSanitizer. Seeds:
 * fuzz/corpus/safetensors. */
#include <stdint.h>
#include <stdlib.h>

#include "segagent/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_weights *w = NULL;
    sa_error err = {0};
    if (sa_weights_from_safetensors_buffer(data, size, &w, &err) != SA_OK) return 0;
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
