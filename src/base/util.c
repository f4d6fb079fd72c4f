/* Small internal helpers shared by several modules: NULL-safe string duplication, a monotonic clock. */
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

char *sa__strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double sa__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}
