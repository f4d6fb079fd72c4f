/* libFuzzer target: captions files (data/captions.h) in both forms, JSON object and NAME<TAB>CAPTION lines,
 * then lookups of every parsed name. Seeds: fuzz/corpus/captions. */
#include <stdint.h>
#include <stdlib.h>

#include "data/captions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa__captions *c = NULL;
    sa_error err = {0};
    if (sa__captions_parse((const char *)data, size, "<fuzz>", &c, &err) != SA_OK) return 0;
    if (sa__captions_count(c) < 1) abort();
    sa__captions_find(c, "DIS-TE1", "a");
    sa__captions_find(c, NULL, "");
    sa__captions_free(c);
    return 0;
}
