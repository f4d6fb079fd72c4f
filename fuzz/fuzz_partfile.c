/* libFuzzer target: part files read back (segagent/partfile.h) -- resuming one (header check, records, a torn
 * or damaged line, the end record) and merging it as a one-shard run. The input is written to a temporary file
 * because part files are only ever read from disk. Seeds: fuzz/corpus/partfile. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "segagent/partfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *user, const cJSON *rec, sa_error *err) {
    (void)rec;
    (void)err;
    (*(int *)user)++;
    return SA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_partfile_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    sa_error err = {0};
    int n = 0;
    const char *paths[] = {path};
    sa_parts_merge_ops ops = {NULL, count};
    sa_parts_merge(paths, 1, NULL, ops, &n, &err);
    cJSON *head = NULL;
    if (sa_part_read_header(path, &head, &err) == SA_OK) {
        sa_part_header h = {.command = "eval", .shard = {0, 1}, .total = 8};
        const cJSON *cmd = cJSON_GetObjectItem(head, "command");
        const cJSON *total = cJSON_GetObjectItem(head, "total");
        if (cJSON_IsString(cmd)) h.command = cmd->valuestring;
        if (cJSON_IsNumber(total) && total->valuedouble < 1e6) h.total = (int)total->valuedouble;
        h.config = cJSON_GetObjectItem(head, "config");
        sa_part *p = NULL;
        if (sa_part_open(path, h, 1, count, &n, NULL, &p, &err) == SA_OK) sa_part_close(p);
        cJSON_Delete(head);
    }
    unlink(path);
    return 0;
}
