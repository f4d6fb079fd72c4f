/* libFuzzer target for the trajectory JSON reader (untrusted files from other tools).
 * Whatever is accepted must be internally consistent: every state mask decodes at the sample's size, clicks lie
 * inside the image, and the areas match the masks. Large masks are not decoded (memory), only parsed. */
#include <stdint.h>
#include <stdlib.h>

#include "segagent/trajectory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_traj_set *set = NULL;
    sa_error err = {0};
    if (sa_traj_parse((const char *)data, size, "fuzz", &set, &err) != SA_OK) {
        if (set || !err.msg[0]) abort();
        return 0;
    }
    for (int i = 0; i < set->n_samples; i++) {
        const sa_traj_sample *s = &set->samples[i];
        if (s->height < 1 || s->width < 1 || !s->gt) abort();
        for (int t = 0; t < s->n_steps; t++) {
            const sa_click *c = &s->steps[t].click;
            if (c->y < 0 || c->y >= s->height || c->x < 0 || c->x >= s->width) abort();
        }
        if ((uint64_t)s->height * (uint64_t)s->width > (1u << 20)) continue;
        for (int t = 0; t <= s->n_steps; t++) {
            sa_mask m = {0};
            if (sa_traj_state_mask(s, t, &m, &err) != SA_OK) abort();
            if (t > 0 && sa_mask_area(&m) != s->steps[t - 1].area) abort();
            sa_mask_free(&m);
        }
    }
    sa_traj_set_free(set);
    return 0;
}
