/* libFuzzer target: eval's per-sample records read back (segagent/eval_records.h). The input is a part file
 * of `segagent eval`: its first line a header whose "config" describes the run, then records; the config is
 * parsed into a book, every line after it is added as a record, and the summaries are computed. Seeds:
 * fuzz/corpus/eval_records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/eval_records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size);
    if (!nl) return 0;
    cJSON *head = cJSON_ParseWithLength(p, (size_t)(nl - p));
    sa_eval_book *b = NULL;
    sa_error err = {0};
    if (!head || sa_eval_book_new(cJSON_GetObjectItem(head, "config"), &b, &err) != SA_OK ||
        sa_eval_book_total(b) > 100000) {
        sa_eval_book_free(b);
        cJSON_Delete(head);
        return 0;
    }
    for (p = nl + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        cJSON *rec = cJSON_ParseWithLength(p, (size_t)(nl - p));
        if (rec) {
            sa_eval_sample s;
            if (sa_eval_record_parse(rec, sa_eval_book_max_clicks(b), 1, &s, &err) == SA_OK)
                sa_eval_sample_free(&s);
            sa_eval_book_add(b, rec, &err);
        }
        cJSON_Delete(rec);
    }
    sa_eval_book_summarize(b, &err);
    sa_eval_book_free(b);
    cJSON_Delete(head);
    return 0;
}
