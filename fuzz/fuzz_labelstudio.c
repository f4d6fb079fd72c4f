/* libFuzzer target for Label Studio's /predict payload (src/server/lsproto.c) and its local-files
 * URLs: the input is the JSON body; every task's image URL that parses is also run through the
 * local-files decoder. Accepted payloads must have percentages in [0, 100] and no more keypoints
 * than the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/lsproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_error err = {0};
    sa__ls_request r;
    if (sa__ls_parse_predict((const char *)data, size, "text", 8, &r, &err) != SA_OK) return 0;
    if (r.n_points < 0 || r.n_points > 8 || r.n_tasks < 0 || r.n_tasks > 100) abort();
    for (int i = 0; i < r.n_points; i++)
        if (!(r.points[i].x >= -1e-3 && r.points[i].x <= 100.001 && r.points[i].y >= -1e-3 &&
              r.points[i].y <= 100.001))
            abort();
    for (int i = 0; i < r.n_tasks; i++) {
        if (!r.tasks[i].image) abort();
        char *rel = sa__ls_local_file(r.tasks[i].image);
        if (rel && strlen(rel) > strlen(r.tasks[i].image)) abort();
        free(rel);
    }
    sa__ls_request_free(&r);
    return 0;
}
