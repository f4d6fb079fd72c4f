/* libFuzzer target for the chat-completions reply parser of the policy client (bodies come from any
 * server the user points --policy at). Input: byte 0 picks how many samples are wanted (1..4) and
 * how many are already there (0..want-1, as when missing samples are filled one request at a time);
 * the rest is the body. Whatever is accepted adds between one and want - have texts; a refusal adds
 * none and says why on one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/llm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int want = 1 + (data[0] & 3), have = (data[0] >> 2) % want;
    sa_llm_reply r;
    memset(&r, 0, sizeof r);
    r.texts = calloc((size_t)want, sizeof *r.texts);
    if (!r.texts) return 0;
    r.n = have;
    sa_error err = {0};
    int rc = sa__llm_parse_reply("http://fuzz/v1/chat/completions", (const char *)data + 1,
                                 size - 1, want, &r, &err);
    if (rc == SA_OK && (r.n <= have || r.n > want)) abort();
    if (rc != SA_OK && (rc != SA_ERR_PARSE || r.n != have || !err.msg[0] || strchr(err.msg, '\n')))
        abort();
    for (int i = 0; i < r.n; i++) {
        if (i < have && r.texts[i]) abort();
        if (r.texts[i]) (void)strlen(r.texts[i]); /* NUL-terminated, inside its allocation */
    }
    sa_llm_reply_free(&r);
    return 0;
}
