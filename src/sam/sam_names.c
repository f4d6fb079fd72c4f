/* Official SAM names -> Hugging Face SamModel names, and the renaming of a loaded official
 * checkpoint (sa__sam_map_weights, called by the SAM model loader). The table is applied as ordered
 * substring replacements (every occurrence), the way the HF conversion defines it; the order
 * matters because "layers.1 -> layers.0" must run after "layers.0 -> proj_in". The hypernetwork
 * MLPs
 * ("output_hypernetworks_mlps.<i>.layers.<j>") need the index <i> kept, so they are handled by a
 * small scanner instead of a fixed pattern. */
#include "sam/sam_names.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_map[][2] = {
    {"iou_prediction_head.layers.0", "iou_prediction_head.proj_in"},
    {"iou_prediction_head.layers.1", "iou_prediction_head.layers.0"},
    {"iou_prediction_head.layers.2", "iou_prediction_head.proj_out"},
    {"mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"},
    {"mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"},
    {"mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"},
    {"mask_downscaling.0", "mask_embed.conv1"},
    {"mask_downscaling.1", "mask_embed.layer_norm1"},
    {"mask_downscaling.3", "mask_embed.conv2"},
    {"mask_downscaling.4", "mask_embed.layer_norm2"},
    {"mask_downscaling.6", "mask_embed.conv3"},
    {"point_embeddings", "point_embed"},
    {"pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"},
    {"image_encoder", "vision_encoder"},
    {"neck.0", "neck.conv1"},
    {"neck.1", "neck.layer_norm1"},
    {"neck.2", "neck.conv2"},
    {"neck.3", "neck.layer_norm2"},
    {"patch_embed.proj", "patch_embed.projection"},
    {".norm", ".layer_norm"},
    {"blocks", "layers"},
};

int sa__sam_name_is_official(const char *name) {
    return name && strncmp(name, "image_encoder.", 14) == 0;
}

/* Replaces every occurrence of `from` in buf (capacity cap) by `to`. Returns -1 when it would not
 * fit. */
static int replace_all(char *buf, size_t cap, const char *from, const char *to) {
    size_t nf = strlen(from), nt = strlen(to);
    char *p = buf;
    while ((p = strstr(p, from)) != NULL) {
        size_t len = strlen(buf);
        if (nt > nf && len + (nt - nf) + 1 > cap) return -1;
        memmove(p + nt, p + nf, strlen(p + nf) + 1);
        memcpy(p, to, nt);
        p += nt;
    }
    return 0;
}

/* "output_hypernetworks_mlps.<digits>.layers.<0|1|2>" -> ".proj_in" / ".layers.0" / ".proj_out". */
static int map_hyper(char *buf, size_t cap) {
    static const char key[] = "output_hypernetworks_mlps.";
    static const char *const repl[3] = {"proj_in", "layers.0", "proj_out"};
    char *p = buf;
    while ((p = strstr(p, key)) != NULL) {
        char *q = p + sizeof key - 1;
        if (!isdigit((unsigned char)*q)) {
            p = q;
            continue;
        }
        while (isdigit((unsigned char)*q))
            q++;
        if (strncmp(q, ".layers.", 8) != 0 || q[8] < '0' || q[8] > '2' ||
            isdigit((unsigned char)q[9])) {
            p = q;
            continue;
        }
        char *from = q + 1; /* "layers.N" */
        const char *to = repl[q[8] - '0'];
        size_t nf = 8, nt = strlen(to);
        if (nt > nf && strlen(buf) + (nt - nf) + 1 > cap) return -1;
        memmove(from + nt, from + nf, strlen(from + nf) + 1);
        memcpy(from, to, nt);
        p = from + nt;
    }
    return 0;
}

int sa__sam_map_name(const char *in, char *out, size_t outsz) {
    size_t n = strlen(in);
    if (n + 1 > outsz) return -1;
    memcpy(out, in, n + 1);
    if (map_hyper(out, outsz) != 0) return -1;
    for (size_t i = 0; i < sizeof k_map / sizeof k_map[0]; i++)
        if (replace_all(out, outsz, k_map[i][0], k_map[i][1]) != 0) return -1;
    return 0;
}

/* sa_weights_rename callback: ctx is the source name for messages. */
static int rename_one(void *ctx, const char *name, char **new_name, sa_error *err) {
    size_t cap = strlen(name) + 64;
    char *nm = malloc(cap);
    if (!nm) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", (const char *)ctx);
    if (sa__sam_map_name(name, nm, cap) != 0) {
        free(nm);
        return sa_error_set(err, SA_ERR_RANGE, "%s: tensor name '%s' too long to map",
                            (const char *)ctx, name);
    }
    *new_name = nm;
    return SA_OK;
}

int sa__sam_map_weights(sa_weights *w, const char *what, sa_error *err) {
    int official = 0;
    for (int i = 0; i < sa_weights_count(w) && !official; i++)
        official = sa__sam_name_is_official(sa_weights_at(w, i)->name);
    if (!official) return SA_OK;
    int rc = sa_weights_rename(w, rename_one, (void *)(uintptr_t)what, err);
    if (rc == SA_ERR_FORMAT) sa_error_prefix(err, "%s: ", what);
    return rc;
}
