/* What an annotator does: clicks, boxes and the actions built from them. The vocabulary every layer shares
 * (tools take clicks and boxes, the simulated annotator and policies produce actions, the environment applies
 * them, trajectories and exports record them); it depends on nothing else.
 *
 *   sa_action a = sa_action_click(120, 200, 1);           // (y, x) in pixels, positive
 *   sa_action b = sa_action_box(10.f, 20.f, 300.f, 240.f); // (x0, y0) top-left, (x1, y1) bottom-right
 *
 * The text form of an action (what a policy model reads and writes) is in segagent/grammar.h.
 */
#ifndef SEGAGENT_ACTION_H
#define SEGAGENT_ACTION_H

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most clicks one episode may hold (tools, the environment and the recorder all refuse more). */
#define SA_MAX_CLICKS 1024

/* A click in image pixels; (y, x) as the simulated annotator and the released data use. */
typedef struct sa_click {
    int y;
    int x;
    int positive; /* 1 positive (object), 0 negative (background) */
} sa_click;

/* A box in image pixel coordinates (x0, y0) top-left, (x1, y1) bottom-right, x0 <= x1, y0 <= y1. */
typedef struct sa_box {
    float x0, y0, x1, y1;
} sa_box;

typedef enum sa_action_kind { SA_ACTION_CLICK = 0, SA_ACTION_BOX = 1 } sa_action_kind;

/* One action: a click, or a box (accepted only as the first action of an episode). */
typedef struct sa_action {
    sa_action_kind kind;
    sa_click click; /* for SA_ACTION_CLICK */
    sa_box box;     /* for SA_ACTION_BOX */
} sa_action;

/* A click action; positive is normalised to 0/1. */
static inline sa_action sa_action_click(int y, int x, int positive) {
    sa_action a;
    memset(&a, 0, sizeof a);
    a.kind = SA_ACTION_CLICK;
    a.click.y = y;
    a.click.x = x;
    a.click.positive = positive ? 1 : 0;
    return a;
}

/* A box action (corners as given; the tool checks they are ordered and inside the image). */
static inline sa_action sa_action_box(float x0, float y0, float x1, float y1) {
    sa_action a;
    memset(&a, 0, sizeof a);
    a.kind = SA_ACTION_BOX;
    a.box.x0 = x0;
    a.box.y0 = y0;
    a.box.x1 = x1;
    a.box.y1 = y1;
    return a;
}

#ifdef __cplusplus
}
#endif
#endif
