/* The IoU-vs-clicks line chart as a standalone SVG file (the eval reports and the demo draw with it).
 *
 *   sa_chart_series s[2] = {{"GrabCut", miou_grabcut + 1, 20, "NoC@90 5.2"}, {"Berkeley", ..., 20, NULL}};
 *   sa_chart_svg_write("out.svg", "mIoU vs clicks", "builtin tool, simulated annotator", s, 2, &err);
 *
 * One line per series over x = 1..n, a y axis zoomed to the data (never above 1), grid, tick labels, dashed
 * reference lines at IoU 0.85 and 0.90, a legend with an optional note per series, a title and a subtitle.
 */
#ifndef SEGAGENT_CHART_H
#define SEGAGENT_CHART_H

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_chart_series {
    const char *name;
    const double *y; /* y[i] is the value at x = i + 1; NAN values are not drawn */
    int n;
    const char *note; /* optional text after the name in the legend */
    int bold;         /* drawn thick and black (e.g. the mean over the other series) */
} sa_chart_series;

/* Returns a malloc'd NUL-terminated SVG document, or NULL (err set). */
char *sa_chart_svg_render(const char *title, const char *subtitle, const sa_chart_series *s,
                          int n_series, sa_error *err);
/* Renders and writes path all or nothing (a failed write leaves no partial file). SA_ERR_IO names path. */
int sa_chart_svg_write(const char *path, const char *title, const char *subtitle,
                       const sa_chart_series *s, int n_series, sa_error *err);

#endif
