/* libFuzzer target: the SimpleClick checkpoint reader from memory (torch.save zip, the restricted
 * pickle VM with SimpleClick's allowlist, the config as JSON, the architecture derived from shapes
 * and the tensor walk). A checkpoint that loads and is small runs one click on a 224x224 image, so
 * every derived dimension is used. Seed with ../shared/fixtures/simpleclick/tiny/model.pth (e.g.
 * `build-fuzz/fuzz/fuzz_simpleclick corpus/
 * ../shared/fixtures/simpleclick/tiny/`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/simpleclick.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_sc_params p = sa_sc_default_params();
    p.threads = 1;
    p.zoom_target = 224;
    p.flip = 0;
    sa_sc_model *m = NULL;
    sa_error err = {0};
    if (sa_sc_model_load_buffer(data, size, p, &m, &err) != SA_OK) return 0;
    for (int i = 0; i < sa_sc_model_unused_count(m); i++)
        if (!sa_sc_model_unused_name(m, i)) abort();
    if (sa_sc_model_param_count(m) < 2000000) {
        sa_image img = {0};
        if (sa_image_new(&img, 224, 224, 3, &err) == SA_OK) {
            memset(img.data, 128, (size_t)224 * 224 * 3);
            sa_sc_session *s = NULL;
            float *prob = malloc(sizeof(float) * 224 * 224);
            int roi[4];
            sa_sc_click c = {100, 120, 1};
            if (prob && sa_sc_session_new(m, &img, &s, &err) == SA_OK)
                sa_sc_predict(s, &c, 1, NULL, NULL, prob, roi, &err);
            sa_sc_session_free(s);
            free(prob);
            sa_image_free(&img);
        }
    }
    sa_sc_model_free(m);
    return 0;
}
