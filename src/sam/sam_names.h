/* Official SAM checkpoint names -> Hugging Face SamModel names (SAM.md, "Name mapping"). Internal.
 */
#ifndef SEGAGENT_SAM_NAMES_H
#define SEGAGENT_SAM_NAMES_H

#include <stddef.h>

/* Official name of the Fourier matrix after mapping, and the tied top-level name the HF files keep.
 */
#define SA__SAM_PE_PROMPT "prompt_encoder.shared_embedding.positional_embedding"
#define SA__SAM_PE_SHARED "shared_image_embedding.positional_embedding"

/* 1 when `name` is in the official naming (the encoder is called image_encoder there). */
int sa__sam_name_is_official(const char *name);

/* Writes the Hugging Face name of official name `in` to out (NUL-terminated). Returns 0, or -1 when
 * the result does not fit in outsz bytes. Names outside the table come back unchanged. */
int sa__sam_map_name(const char *in, char *out, size_t outsz);

#endif
