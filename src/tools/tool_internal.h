/* Internal: what a tool with a per-image cache (SAM) adds to its sa_tool after sa_tool_new, so that
 * sa_tool_set_cache and sa_tool_get_stats reach it. The public sa_tool_ops table stays as it is. */
#ifndef SEGAGENT_TOOLS_TOOL_INTERNAL_H
#define SEGAGENT_TOOLS_TOOL_INTERNAL_H

#include "segagent/tool.h"

typedef struct sa__tool_cache_ops {
    int (*set_cache)(void *model, const sa_tool_cache_params *params, sa_error *err);
    void (*stats)(void *model, sa_tool_stats *out); /* fills the cache fields only */
} sa__tool_cache_ops;

/* ops must outlive the tool (a static table). */
void sa__tool_set_cache_ops(sa_tool *tool, const sa__tool_cache_ops *ops);

/* For a tool about to block on another thread's work (not use a core) from inside its session_new or predict:
 * pause gives the call's gate slot back for the wait, resume takes one again (waiting for it like a new call).
 * Only between the two may the tool wait; only from inside those two calls. */
void sa__tool_gate_pause(sa_tool *tool);
void sa__tool_gate_resume(sa_tool *tool);

#endif
