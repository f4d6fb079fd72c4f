/* Small internal helpers shared by every layer: NULL-safe strdup, a monotonic clock, splitmix64 random numbers,
 * overflow-checked size products. */
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

uint64_t sa__rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int sa__rng_below(uint64_t *state, int n) {
    return (int)(sa__rng_next(state) % (uint64_t)n);
}

float sa__rng_uniform_pm1(uint64_t *state) {
    return (float)((double)(sa__rng_next(state) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

int sa__mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int sa__mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int sa__mul3_size(size_t a, size_t b, size_t c, size_t *out) {
    size_t ab;
    return sa__mul_size(a, b, &ab) && sa__mul_size(ab, c, out);
}
