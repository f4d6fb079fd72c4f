/* Internal: small helpers shared by every layer (not part of the public API): NULL-safe strdup, a monotonic
 * clock, seeded random numbers and overflow-checked sizes. File reading and writing are in base/files.h, the
 * thread pool in base/pool.h. */
#ifndef SEGAGENT_BASE_UTIL_H
#define SEGAGENT_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* strdup that maps NULL to NULL (and returns NULL when out of memory). */
char *sa__strdup(const char *s);

/* Monotonic clock in milliseconds, for timings reported to the user. */
double sa__now_ms(void);

/* splitmix64: small, fast, seedable; the same seed gives the same sequence on every machine. *state is the
 * whole generator (start it at the seed). */
uint64_t sa__rng_next(uint64_t *state);
/* Uniform-enough integer in [0, n) (n >= 1): sa__rng_next modulo n. */
int sa__rng_below(uint64_t *state, int n);
/* Uniform float in [-1, 1) from the top 53 bits. */
float sa__rng_uniform_pm1(uint64_t *state);

/* *out = a * b; returns 0 on overflow (then *out is untouched), 1 otherwise. */
int sa__mul_size(size_t a, size_t b, size_t *out);
/* The same for 64-bit counts (tensor element and byte counts read from files). */
int sa__mul_u64(uint64_t a, uint64_t b, uint64_t *out);
/* *out = a * b * c with the same rule. */
int sa__mul3_size(size_t a, size_t b, size_t c, size_t *out);

#endif
