/* Internal: a captions file for a dataset whose files carry no description (HRES sets such as ThinObject5K,
 * or DIS5K when the class in the file name is not the wanted text). Two forms, told apart by the first
 * non-blank byte:
 *
 *   {"camel_1": "a camel", "DIS-TE1/1#Accessories#1#Bag#123": "the bag"}      JSON: name -> caption
 *
 *   # comment lines and blank lines are skipped
 *   camel_1<TAB>a camel                                                       text: name, a tab, caption
 *
 * A name is an image's file name without its extension, optionally prefixed by its part folder ("DIS-TE1/");
 * a prefixed name wins over a bare one. Captions are repaired to valid UTF-8.
 *
 *   sa__captions *c;
 *   if (sa__captions_load("captions.tsv", &c, &err)) ...;
 *   const char *cap = sa__captions_find(c, "DIS-TE1", "1#Accessories#1#Bag#123");   // NULL when absent
 */
#ifndef SEGAGENT_DATA_CAPTIONS_H
#define SEGAGENT_DATA_CAPTIONS_H

#include <stddef.h>

#include "segagent/error.h"

typedef struct sa__captions sa__captions;

/* Parses text[0..len) (name labels messages). SA_ERR_PARSE naming the line or the JSON position for text that
 * is neither form (a text line without a tab, an empty name or caption, a JSON value that is not a string, a
 * name given twice), SA_ERR_NOMEM. */
int sa__captions_parse(const char *text, size_t len, const char *name, sa__captions **out,
                       sa_error *err);
/* Reads and parses the file (at most SA__MAX_JSON_BYTES). */
int sa__captions_load(const char *path, sa__captions **out, sa_error *err);
/* The caption of part/stem (part may be NULL or ""), else of stem alone, else NULL. */
const char *sa__captions_find(const sa__captions *c, const char *part, const char *stem);
int sa__captions_count(const sa__captions *c);
void sa__captions_free(sa__captions *c);

#endif
