/* Small internal helpers shared by several modules (not part of the public API). */
#ifndef SEGAGENT_UTIL_H
#define SEGAGENT_UTIL_H

/* strdup that maps NULL to NULL (and returns NULL when out of memory). */
char *sa__strdup(const char *s);

/* Monotonic clock in milliseconds, for timings reported to the user. */
double sa__now_ms(void);

#endif
