/* The built-in interactive tool that needs no weights: graph cut on the pixel grid seeded by the clicks.
 *
 *   sa_tool *tool = NULL;
 *   sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err);
 *   ... use through the sa_tool contract (tool.h) ...
 *
 * Per image (once, in the session): colour features and the pixel-grid edge weights. Per click: colour models
 * learned from the clicks and the current mask, exact max-flow / min-cut with contrast-sensitive smoothness,
 * plus the priors documented in graphcut.c.
 */
#ifndef SEGAGENT_GRAPHCUT_H
#define SEGAGENT_GRAPHCUT_H

#include "segagent/error.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_graphcut_params {
    float lambda;        /* weight of the smoothness term */
    float click_radius;  /* radius in pixels of the hard seed disc around each click */
    int max_side;        /* images larger than this are processed at reduced resolution (0 = never) */
    int reserved[8];     /* room for more knobs without breaking callers */
} sa_graphcut_params;

sa_graphcut_params sa_graphcut_default_params(void);
int sa_graphcut_tool_new(sa_graphcut_params params, sa_tool **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
