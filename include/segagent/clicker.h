/* The simulated annotator (docs/annotator.md): the click a careful human places next, from ground truth.
 *
 *   sa_clicker_click c;
 *   int rc = sa_clicker_next(&gt, &ignore, &pred, clicks, n_clicks, &c, &err);
 *   if (rc == SA_ERR_DONE) ... nothing left to fix ...
 *
 * fn = gt & !pred & !ignore, fp = !gt & pred & !ignore; both padded with a 1-pixel zero border; exact Euclidean
 * distance transform (OpenCV DIST_L2, mask size 0); distance zeroed at already-clicked pixels; positive iff
 * max(fn) > max(fp) (a tie is negative); the click is the first pixel in row-major order holding that maximum.
 * The suite checks every result against test vectors made with OpenCV (docs/annotator.md).
 */
#ifndef SEGAGENT_CLICKER_H
#define SEGAGENT_CLICKER_H

#include "segagent/error.h"
#include "segagent/mask.h"
#include "segagent/action.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_clicker_click {
    int y, x;
    int positive;
    float distance; /* distance-transform value at the click (the maximum) */
} sa_clicker_click;

/* gt, pred: same size. ignore may be NULL. clicked: already-clicked pixels (their distance is zeroed).
 * Returns SA_OK with *out filled, SA_ERR_DONE when both maxima are 0, or an error for bad sizes. */
int sa_clicker_next(const sa_mask *gt, const sa_mask *ignore, const sa_mask *pred,
                    const sa_click *clicked, int n_clicked, sa_clicker_click *out, sa_error *err);

/* The same with reusable scratch buffers, for callers that ask for many clicks (the simulated-annotator
 * policy keeps one per instance):
 *
 *   sa_clicker *ck = NULL;
 *   sa_clicker_new(&ck, &err);
 *   ... rc = sa_clicker_run(ck, &gt, &ignore, &pred, clicks, n_clicks, &c, &err); ...
 *   sa_clicker_free(ck);
 *
 * A handle is not thread-safe (one per thread); sa_clicker_free(NULL) is a no-op. Results are identical to
 * sa_clicker_next. Clicked pixels outside the image are an error (SA_ERR_RANGE). */
typedef struct sa_clicker sa_clicker;
int sa_clicker_new(sa_clicker **out, sa_error *err);
void sa_clicker_free(sa_clicker *c);
int sa_clicker_run(sa_clicker *c, const sa_mask *gt, const sa_mask *ignore, const sa_mask *pred,
                   const sa_click *clicked, int n_clicked, sa_clicker_click *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
