/* Official SAM checkpoint names -> Hugging Face SamModel names (docs/sam.md, "Name mapping"). Internal
 * to the SAM model loader, which renames an official checkpoint's tensors once after opening it, so
 * the engine binds one naming whatever the file.
 *
 *   sa_weights_open("sam_vit_b_01ec64.pth", &w, &err);
 *   sa__sam_map_weights(w, path, &err);   // "image_encoder.blocks.0.norm1.weight" is now
 *                                         // "vision_encoder.layers.0.layer_norm1.weight"
 */
#ifndef SEGAGENT_SAM_NAMES_H
#define SEGAGENT_SAM_NAMES_H

#include <stddef.h>

#include "segagent/weights.h"

/* The Fourier matrix: its name after mapping an official checkpoint, and the tied top-level name
 * under which the HF files store it (the loader accepts either). */
#define SA__SAM_PE_PROMPT "prompt_encoder.shared_embedding.positional_embedding"
#define SA__SAM_PE_SHARED "shared_image_embedding.positional_embedding"

/* 1 when `name` is in the official naming (the encoder is called image_encoder there). */
int sa__sam_name_is_official(const char *name);

/* Writes the Hugging Face name of official name `in` to out (NUL-terminated). Returns 0, or -1 when
 * the result does not fit in outsz bytes. Names outside the table come back unchanged. */
int sa__sam_map_name(const char *in, char *out, size_t outsz);

/* When w holds official names (any tensor named "image_encoder.*"), renames every tensor to its HF
 * name; otherwise leaves w as it is. Errors (w unchanged): SA_ERR_RANGE for a name too long to map,
 * SA_ERR_FORMAT when two tensors map to one name, SA_ERR_NOMEM; messages start with what. */
int sa__sam_map_weights(sa_weights *w, const char *what, sa_error *err);

#endif
