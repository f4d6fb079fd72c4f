/* PLACEHOLDER: replaced by the graph-cut tool's owner. */
#include "segagent/graphcut.h"

sa_graphcut_params sa_graphcut_default_params(void) {
    sa_graphcut_params p = {0};
    return p;
}

int sa_graphcut_tool_new(sa_graphcut_params params, sa_tool **out, sa_error *err) {
    (void)params;
    *out = NULL;
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "graph-cut tool not built yet");
}
