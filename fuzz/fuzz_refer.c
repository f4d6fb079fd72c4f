/* libFuzzer target: the restricted unpickler in its plain profile (containers and scalars, Python 2
 * and 3 opcodes) and the RefCOCO refs walker on its result, against a small fixed COCO set. Every
 * accepted sample's strings are read. Seeds: fuzz/corpus/refer (the refer sample's Python 2 and
 * Python 3 pickles, Python 3 at protocols 0, 1 and 5, a hand-written protocol-0 text pickle). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/refer.h"
#include "weights/unpickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_coco[] =
    "{\"images\": [{\"id\": 7, \"file_name\": \"a.jpg\", \"height\": 20, \"width\": 30}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 7, \"category_id\": 1, \"segmentation\": [[1, 1, "
    "9, 1, 9, 9]]},"
    " {\"id\": 2, \"image_id\": 7, \"category_id\": 1, \"segmentation\": [[1, 1, 90, 1, 9, 9]]}],"
    " \"categories\": [{\"id\": 1, \"name\": \"person\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sa_coco_set *set;
    sa_error err = {0};
    if (!set && sa_coco_parse(k_coco, sizeof k_coco - 1, "instances.json", sa_coco_default_params(),
                              &set, &err))
        abort();
    char *json = NULL;
    size_t len = 0;
    if (sa__pickle_to_json(data, size, "<fuzz>", &json, &len, &err) == SA_OK) {
        if (!json || strlen(json) != len) abort();
        free(json);
    } else if (json) {
        abort();
    }
    sa_refer *r = NULL;
    sa_refer_params p = sa_refer_default_params();
    p.per_ref = size & 1;
    if (sa_refer_from_pickle("refcoco", data, size, "<fuzz>", set, size & 2 ? "val" : NULL, NULL, p,
                             &r, &err) == SA_OK) {
        size_t sum = 0;
        for (int i = 0; i < sa_refer_count(r); i++) {
            const sa_refer_sample *s = sa_refer_get(r, i);
            sum += strlen(s->id) + strlen(s->caption) + strlen(s->image_path);
        }
        for (int i = 0; i < sa_refer_n_warnings(r); i++)
            sum += strlen(sa_refer_warning(r, i));
        if (sum == (size_t)-1) abort();
        sa_refer_free(r);
    }
    return 0;
}
