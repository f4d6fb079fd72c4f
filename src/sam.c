/* PLACEHOLDER: replaced by the SAM engine's owner. */
#include "segagent/sam.h"

sa_sam_params sa_sam_default_params(void) {
    sa_sam_params p = {0};
    p.threads = 2;
    return p;
}

int sa_sam_model_load(const char *path, sa_sam_params params, sa_sam_model **out, sa_error *err) {
    (void)params;
    *out = NULL;
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: SAM engine not built yet", path);
}

void sa_sam_model_free(sa_sam_model *m) {
    (void)m;
}

int sa_sam_tool_new(sa_sam_model *m, sa_tool **out, sa_error *err) {
    (void)m;
    *out = NULL;
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "SAM engine not built yet");
}
