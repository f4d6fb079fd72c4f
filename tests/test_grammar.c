/* Action grammar: parse/format round trips over many pixels, both axis orders and both coordinate styles;
 * the docs/grammar.md rounding and clamping rule; tolerant parsing of real model replies; malformed and out-of-range
 * replies give errors, never crashes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/grammar.h"
#include "testutil.h"

static void round_trip(int w, int h, sa_axis_order ax, sa_coord_style cs, int with_iou) {
    sa_grammar g = sa_grammar_default();
    g.axis = ax;
    g.coords = cs;
    if (with_iou == 2) g.iou_sep = ", ";
    int bad = 0;
    int stepy = h > 1000 ? 37 : h > 300 ? 7 : 1, stepx = w > 1000 ? 41 : w > 300 ? 5 : 1;
    for (int y = 0; y < h; y += (y + stepy < h || y == h - 1) ? stepy : (h - 1 - y)) {
        for (int x = 0; x < w; x += (x + stepx < w || x == w - 1) ? stepx : (w - 1 - x)) {
            for (int pos = 0; pos < 2; pos++) {
                sa_click c = {.y = y, .x = x, .positive = pos};
                char buf[SA_ACTION_TEXT_MAX];
                float iou_in = with_iou ? (float)((y * 7 + x) % 101) / 100.0f : NAN;
                sa_error err = {0};
                if (sa_action_format(&c, &g, w, h, iou_in, buf, sizeof buf, &err)) {
                    bad++;
                    continue;
                }
                sa_action a;
                float piou;
                if (sa_action_parse(buf, &g, w, h, &a, &piou, &err) != SA_OK ||
                    a.kind != SA_ACTION_CLICK || a.click.y != y || a.click.x != x ||
                    a.click.positive != pos ||
                    (with_iou ? fabsf(piou - iou_in) > 0.006f : !isnan(piou))) {
                    if (bad < 5)
                        fprintf(
                            stderr,
                            "round trip %dx%d ax=%d cs=%d (%d,%d,%d): \"%s\" -> (%d,%d,%d) %s\n", w,
                            h, ax, cs, y, x, pos, buf, a.click.y, a.click.x, a.click.positive,
                            err.msg);
                    bad++;
                }
                if (x == w - 1) break;
            }
            if (x == w - 1) break;
        }
        if (y == h - 1) break;
    }
    CHECKF(bad == 0, "%d round-trip failures at %dx%d axis=%d coords=%d", bad, w, h, ax, cs);
}

static void expect_click(const char *text, sa_grammar g, int w, int h, int y, int x, int pos,
                         float piou_exp) {
    sa_action a;
    float piou;
    sa_error err = {0};
    int rc = sa_action_parse(text, &g, w, h, &a, &piou, &err);
    CHECKF(rc == SA_OK, "\"%s\": %s", text, err.msg);
    if (rc) return;
    CHECKF(a.click.y == y && a.click.x == x && a.click.positive == pos,
           "\"%s\" -> (%d,%d,%d), want (%d,%d,%d)", text, a.click.y, a.click.x, a.click.positive, y,
           x, pos);
    if (isnan(piou_exp))
        CHECKF(isnan(piou), "\"%s\": unexpected IoU %f", text, piou);
    else
        CHECKF(fabsf(piou - piou_exp) < 1e-6f, "\"%s\": IoU %f want %f", text, piou, piou_exp);
}

static void expect_fail(const char *text, sa_grammar g, int code) {
    sa_action a;
    sa_error err = {0};
    int rc = sa_action_parse(text, &g, 100, 100, &a, NULL, &err);
    CHECKF(rc == code, "\"%s\": rc %d want %d (%s)", text, rc, code, err.msg);
    CHECK(rc == SA_OK || strlen(err.msg) > 0);
}

int main(void) {
    sa_axis_order axes[2] = {SA_AXIS_YX, SA_AXIS_XY};
    sa_coord_style styles[2] = {SA_COORDS_INT1000, SA_COORDS_FLOAT1};
    int sizes[][2] = {{1, 1},     {7, 3},      {100, 100},  {333, 251},
                      {640, 480}, {1000, 999}, {999, 1000}, {2, 1000}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int a = 0; a < 2; a++)
            for (int c = 0; c < 2; c++)
                for (int iou = 0; iou < 3; iou++)
                    round_trip(sizes[s][0], sizes[s][1], axes[a], styles[c], iou);
    /* beyond 1000 pixels only FLOAT1 can be exact */
    round_trip(4000, 2500, SA_AXIS_YX, SA_COORDS_FLOAT1, 1);

    /* SPEC rule: pixel = round(rel * size) clamped to [0, size-1] */
    CHECK(sa_grammar_value_to_pixel(999, SA_COORDS_INT1000, 480) ==
          479); /* round(479.52) = 480 -> clamped */
    CHECK(sa_grammar_value_to_pixel(500, SA_COORDS_INT1000, 480) == 240);
    CHECK(sa_grammar_value_to_pixel(1, SA_COORDS_INT1000, 500) == 1); /* 0.5 rounds up */
    CHECK(sa_grammar_value_to_pixel(3, SA_COORDS_INT1000, 500) == 2); /* 1.5 -> 2 */
    CHECK(sa_grammar_value_to_pixel(0.999, SA_COORDS_FLOAT1, 640) == 639);
    CHECK(sa_grammar_value_to_pixel(0.5, SA_COORDS_FLOAT1, 3) == 2); /* 1.5 -> 2 */
    CHECK(sa_grammar_value_to_pixel(0, SA_COORDS_FLOAT1, 3) == 0);

    sa_grammar g = sa_grammar_default();
    /* (y, x) default: first number scales with height (h = 200, w = 400) */
    expect_click("Positive point: (500, 250)", g, 400, 200, 100, 100, 1, NAN);
    expect_click("Negative point: (100, 900)", g, 400, 200, 20, 360, 0, NAN);
    expect_click("Current IOU: 73\nPositive point: (500, 250)", g, 400, 200, 100, 100, 1, 0.73f);
    expect_click("Current IOU: 73.5, Negative point: (500,250)", g, 400, 200, 100, 100, 0, 0.735f);
    expect_click("current iou: 12 negative point:(0, 0)", g, 400, 200, 0, 0, 0, 0.12f);
    expect_click("  Sure! Positive Point: ( 500 , 250 ).", g, 400, 200, 100, 100, 1, NAN);
    expect_click("Positive point: [500, 250]", g, 400, 200, 100, 100, 1, NAN);
    expect_click("Positive point: (500.0, 250.0)", g, 400, 200, 100, 100, 1, NAN);
    expect_click("Positive point: (1000, 1000)", g, 400, 200, 199, 399, 1,
                 NAN); /* top of scale clamps */
    /* the last "point:" wins */
    expect_click("Negative point: (1, 1) no wait, Positive point: (500, 250)", g, 400, 200, 100,
                 100, 1, NAN);
    sa_grammar gx = g;
    gx.axis = SA_AXIS_XY;
    expect_click("Positive point: (500, 250)", gx, 400, 200, 50, 200, 1, NAN);
    sa_grammar gf = g;
    gf.coords = SA_COORDS_FLOAT1;
    expect_click("Negative point: (0.5, 0.25)", gf, 400, 200, 100, 100, 0, NAN);
    expect_click("Current IOU: 88\nPositive point: (0.999, 0.0)", gf, 400, 200, 199, 0, 1, 0.88f);

    expect_fail("", g, SA_ERR_PARSE);
    expect_fail("I think the mask is fine.", g, SA_ERR_PARSE);
    expect_fail("Positive point: 500, 250", g, SA_ERR_PARSE);
    expect_fail("Positive point: (500)", g, SA_ERR_PARSE);
    expect_fail("Positive point: (a, b)", g, SA_ERR_PARSE);
    expect_fail("Positive point: (500, 250", g, SA_ERR_PARSE);
    expect_fail("point: (500, 250)", g, SA_ERR_PARSE);
    expect_fail("Positive point: (nan, inf)", g, SA_ERR_PARSE);
    expect_fail("Positive point: (1500, 250)", g, SA_ERR_RANGE);
    expect_fail("Negative point: (-3, 250)", g, SA_ERR_RANGE);
    expect_fail("Positive point: (0.5, 1.5)", gf, SA_ERR_RANGE);
    expect_fail("Positive point: (500, 250)", gf, SA_ERR_RANGE);
    {
        char big[4096];
        memset(big, '9', sizeof big - 1);
        big[sizeof big - 1] = 0;
        memcpy(big, "Positive point: (", 17);
        expect_fail(big, g, SA_ERR_PARSE);
    }
    /* IoU survives a broken action */
    {
        sa_action a;
        float piou = 0;
        CHECK(sa_action_parse("Current IOU: 55", &g, 10, 10, &a, &piou, NULL) == SA_ERR_PARSE);
        CHECK(fabsf(piou - 0.55f) < 1e-6f);
        CHECK(sa_pred_iou_parse("Current IOU: none", &piou, NULL) == SA_ERR_PARSE);
    }
    /* numbers are read whole; an out-of-range IoU is reported, never clamped, and counts as absent */
    {
        sa_action a;
        float piou = 0;
        sa_error err = {0};
        const char *bad[] = {"Current IOU: 140",   "Current IOU: 1e309", "Current IOU: -5",
                             "Current IOU: 100.5", "Current IOU: 1e3",   "Current IOU: -1e309"};
        for (int i = 0; i < 6; i++) {
            piou = 0;
            CHECKF(sa_pred_iou_parse(bad[i], &piou, &err) == SA_ERR_RANGE && isnan(piou), "%s: %g",
                   bad[i], piou);
            CHECKF(strstr(err.msg, bad[i] + 13) && strstr(err.msg, "0..100"), "%s: %s", bad[i],
                   err.msg);
        }
        CHECK(sa_pred_iou_parse("Current IOU: 1e1", &piou, NULL) == SA_OK &&
              fabsf(piou - 0.1f) < 1e-6f);
        CHECK(sa_pred_iou_parse("Current IOU: 100", &piou, NULL) == SA_OK && piou == 1.0f);
        CHECK(sa_pred_iou_parse("Current IOU: 0", &piou, NULL) == SA_OK && piou == 0.0f);
        /* "81e" is 81 followed by a letter, not an exponent */
        CHECK(sa_pred_iou_parse("Current IOU: 81e", &piou, NULL) == SA_OK &&
              fabsf(piou - 0.81f) < 1e-6f);
        /* the action stands, the prediction is NAN */
        piou = 0;
        CHECK(sa_action_parse("Current IOU: 1e309\nPositive point: (500, 250)", &g, 400, 200, &a,
                              &piou, NULL) == SA_OK &&
              isnan(piou) && a.click.y == 100 && a.click.x == 100);
        CHECK(sa_action_parse("Current IOU: 250, Negative point: (500, 250)", &g, 400, 200, &a,
                              &piou, NULL) == SA_OK &&
              isnan(piou));
        /* coordinates are read whole too: 1e3 is 1000 (in range), 5e2 is 500, 2e3 is out of range */
        expect_click("Positive point: (5e2, 2.5e2)", g, 400, 200, 100, 100, 1, NAN);
        expect_fail("Positive point: (2e3, 250)", g, SA_ERR_RANGE);
        expect_fail("Positive point: (1e309, 250)", g, SA_ERR_RANGE);
    }
    /* formatter output shape */
    {
        char buf[SA_ACTION_TEXT_MAX];
        sa_click c = {.y = 240, .x = 320, .positive = 1};
        CHECK(sa_action_format(&c, &g, 640, 480, NAN, buf, sizeof buf, NULL) == SA_OK);
        CHECKF(!strcmp(buf, "Positive point: (500, 500)"), "%s", buf);
        sa_grammar gs = g;
        gs.iou_sep = ", ";
        c.positive = 0;
        CHECK(sa_action_format(&c, &gs, 640, 480, 0.734f, buf, sizeof buf, NULL) == SA_OK);
        CHECKF(!strcmp(buf, "Current IOU: 73, Negative point: (500, 500)"), "%s", buf);
        CHECK(sa_action_format(&c, &gf, 640, 480, NAN, buf, sizeof buf, NULL) == SA_OK);
        CHECKF(!strcmp(buf, "Negative point: (0.500, 0.500)"), "%s", buf);
        CHECK(sa_action_format(&c, &g, 640, 480, NAN, buf, 10, NULL) == SA_ERR_RANGE);
        sa_click out = {.y = 480, .x = 0, .positive = 1};
        CHECK(sa_action_format(&out, &g, 640, 480, NAN, buf, sizeof buf, NULL) == SA_ERR_RANGE);
    }
    /* names */
    {
        sa_axis_order ax;
        sa_coord_style cs;
        CHECK(sa_axis_order_from_name("xy", &ax, NULL) == SA_OK && ax == SA_AXIS_XY);
        CHECK(sa_axis_order_from_name("zz", &ax, NULL) == SA_ERR_INVALID);
        CHECK(sa_coord_style_from_name("float1", &cs, NULL) == SA_OK && cs == SA_COORDS_FLOAT1);
        CHECK(sa_coord_style_from_name("", &cs, NULL) == SA_ERR_INVALID);
    }
    /* grounded boxes (0..1000, (x, y)) */
    {
        sa_box b;
        CHECK(sa_box_parse("<ref>the cat</ref><box>(100,200),(500,900)</box>", 400, 200, &b,
                           NULL) == SA_OK);
        CHECKF(b.x0 == 40 && b.y0 == 40 && b.x1 == 200 && b.y1 == 180, "%g %g %g %g", b.x0, b.y0,
               b.x1, b.y1);
        CHECK(sa_box_parse("<box>(500,900),(100,200)</box>", 400, 200, &b, NULL) == SA_OK);
        CHECK(b.x0 == 40 && b.y0 == 40 && b.x1 == 200 && b.y1 == 180);
        CHECK(sa_box_parse("(0,0),(1000,1000)", 400, 200, &b, NULL) == SA_OK && b.x1 == 399 &&
              b.y1 == 199);
        CHECK(sa_box_parse("<box>(100,200)</box>", 400, 200, &b, NULL) == SA_ERR_PARSE);
        CHECK(sa_box_parse("no box here", 400, 200, &b, NULL) == SA_ERR_PARSE);
        CHECK(sa_box_parse("<box>(100,200),(1100,900)</box>", 400, 200, &b, NULL) == SA_ERR_RANGE);
    }
    return tu_finish("test_action");
}
