/* libFuzzer target: StaR+ part files merged into trajectories + stats (sa_starplus_merge): the part-file
 * checks, then each record's sample read back through the trajectory reader and its stats into the totals.
 * The input is written to a temporary file because parts are only read from disk; the outputs go to
 * temporary names and are removed. Seeds: fuzz/corpus/starplus_part. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "segagent/starplus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_starplus_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    char out[sizeof path + 8];
    snprintf(out, sizeof out, "%s.json", path);
    const char *parts[] = {path};
    sa_error err = {0};
    sa_starplus_totals t;
    sa_starplus_merge_totals(parts, 1, out, &t, &err);
    char *stats = sa_starplus_stats_path(out);
    unlink(out);
    if (stats) unlink(stats);
    free(stats);
    unlink(path);
    return 0;
}
