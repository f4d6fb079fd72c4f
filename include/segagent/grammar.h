/* The action grammar of SegAgent (docs/grammar.md): the text a policy model reads and writes.
 *
 *   Positive point: (523, 417)                   a click; sign from the phrase, two relative coordinates
 *   Current IOU: 81\nNegative point: (120, 640)   optional predicted IoU (0..100) of the *input* mask first
 *   Current IOU: 81, Negative point: (120, 640)   (newline or ", " before the action)
 *   <box>(x1,y1),(x2,y2)</box>                    a grounded box (Qwen-VL style, 0..1000, always (x, y))
 *
 *   sa_grammar g = sa_grammar_default();           // (y, x) order, integers in [0, 1000): the released model
 *   sa_action a; float piou;
 *   if (sa_action_parse(reply, &g, img.width, img.height, &a, &piou, &err) == SA_OK)
 *       ... a.click is in pixels, piou is NAN when the reply had no "Current IOU" ...
 *   char buf[SA_ACTION_TEXT_MAX];
 *   sa_action_format(&a.click, &g, img.width, img.height, NAN, buf, sizeof buf, &err);
 *
 * Conversions: pixel = round(rel * size) (halves away from zero), then clamped to [0, size-1], where rel is
 * value/1000 (SA_COORDS_INT1000) or the value itself (SA_COORDS_FLOAT1). With SA_AXIS_YX (the default, what
 * the released model and its data use) the first number scales with the image height; with SA_AXIS_XY the
 * first is x. The formatter is the parser's inverse on pixels: it writes the value closest to pixel/size
 * that parses back to the same pixel (always possible for FLOAT1; for INT1000 whenever size <= 1000 -- larger
 * sides have more pixels than the grammar has values, and the formatter then writes the nearest value).
 *
 * The parser is tolerant of what models produce: case of the phrases, extra text around the action, spaces
 * inside the parenthesis, decimals in integer mode ("523.0"), exponents ("5.23e2"), "(a, b)" or "[a, b]";
 * every number is read whole, as written. It is strict about
 * ranges: a coordinate below 0 or above the top of its scale (1000 or 1) is SA_ERR_RANGE, a reply with no
 * recognisable action is SA_ERR_PARSE. Neither is a crash; the caller ends the episode with the last mask.
 */
#ifndef SEGAGENT_GRAMMAR_H
#define SEGAGENT_GRAMMAR_H

#include <stddef.h>

#include "segagent/action.h"
#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_ACTION_TEXT_MAX 128

typedef enum sa_axis_order {
    SA_AXIS_YX = 0, /* (y, x): the released SegAgent model and its data (default) */
    SA_AXIS_XY = 1  /* (x, y): what the prompt text says */
} sa_axis_order;

typedef enum sa_coord_style {
    SA_COORDS_INT1000 = 0, /* integers in [0, 1000) (Qwen) (default) */
    SA_COORDS_FLOAT1 = 1   /* decimals in [0, 1) (LLaVA variant) */
} sa_coord_style;

typedef struct sa_grammar {
    sa_axis_order axis;
    sa_coord_style coords;
    const char
        *iou_sep; /* between "Current IOU: v" and the action when formatting; "\n" by default */
} sa_grammar;

sa_grammar sa_grammar_default(void);

/* Parses names used on command lines: "yx" / "xy" and "int1000" / "float1". Return SA_ERR_INVALID otherwise. */
int sa_axis_order_from_name(const char *name, sa_axis_order *out, sa_error *err);
int sa_coord_style_from_name(const char *name, sa_coord_style *out, sa_error *err);

/* Relative value <-> pixel for one axis of `size` pixels (size >= 1). */
int sa_grammar_value_to_pixel(double value, sa_coord_style coords, int size);
/* The value (in the style's units: 0..999 or 0..1) the formatter writes for pixel p; *decimals receives how
 * many decimals to print (0 for INT1000). */
double sa_grammar_pixel_to_value(int p, sa_coord_style coords, int size, int *decimals);

/* Parses a click reply. On SA_OK, *out is an SA_ACTION_CLICK in pixels of a width x height image. pred_iou
 * (may be NULL) receives the "Current IOU" in [0, 1] (value/100), or NAN when absent or out of range (below 0
 * or above 100, as "250" or "1e309": the prediction counts as absent -- it is not clamped -- while the action
 * itself still stands; the agent's trajectory keeps the reply text as written and records pred_iou null). It
 * is set even when the action itself fails to parse (a scoring reply may carry only the IoU).
 * Returns SA_ERR_PARSE (no action found, malformed numbers) or SA_ERR_RANGE (coordinates outside the scale). */
int sa_action_parse(const char *text, const sa_grammar *g, int width, int height, sa_action *out,
                    float *pred_iou, sa_error *err);

/* Finds "Current IOU: v" (case-insensitive; v an integer, a decimal or a number with an exponent, read
 * whole, on the 0..100 scale). Returns SA_OK with *pred_iou = v/100; SA_ERR_PARSE when absent or malformed;
 * SA_ERR_RANGE when v is below 0 or above 100 (the message quotes v as written). *pred_iou is NAN on error. */
int sa_pred_iou_parse(const char *text, float *pred_iou, sa_error *err);

/* Formats a click in the grammar into buf (NUL-terminated). With pred_iou not NAN, "Current IOU: v" (v =
 * pred_iou*100 rounded to an integer) and g->iou_sep come first. The click must be inside the image.
 * Returns SA_ERR_RANGE when buf is too small or the click is outside. */
int sa_action_format(const sa_click *c, const sa_grammar *g, int width, int height, float pred_iou,
                     char *buf, size_t cap, sa_error *err);

/* Parses the first "<box>(x1,y1),(x2,y2)</box>" (Qwen-VL grounding, 0..1000 scale, (x, y) order regardless
 * of the click grammar's axis order) into a pixel box of a width x height image: x = v/1000*width, clamped to
 * [0, width-1], corners ordered. Also accepts the box without the tags when the text holds exactly
 * "(x1,y1),(x2,y2)". Returns SA_ERR_PARSE / SA_ERR_RANGE as for clicks. */
int sa_box_parse(const char *text, int width, int height, sa_box *out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
