/* libFuzzer target for model replies (untrusted text from the policy server): the click grammar in all four
 * axis/coordinate variants, the "Current IOU" prefix and grounded boxes. Input: byte 0 and 1 give the image
 * height and width (1..256), the rest is the reply. Whatever parses must lie inside the image and survive a
 * format -> parse round trip to the same pixel. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int h = data[0] + 1, w = data[1] + 1;
    char *text = malloc(size - 1);
    if (!text) return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = 0;
    for (int v = 0; v < 4; v++) {
        sa_grammar g = sa_grammar_default();
        g.axis = (v & 1) ? SA_AXIS_XY : SA_AXIS_YX;
        g.coords = (v & 2) ? SA_COORDS_FLOAT1 : SA_COORDS_INT1000;
        sa_action a;
        float piou;
        if (sa_action_parse(text, &g, w, h, &a, &piou, NULL) == SA_OK) {
            if (a.click.y < 0 || a.click.y >= h || a.click.x < 0 || a.click.x >= w) abort();
            char buf[SA_ACTION_TEXT_MAX];
            if (sa_action_format(&a.click, &g, w, h, piou, buf, sizeof buf, NULL) != SA_OK) abort();
            sa_action b;
            float piou2;
            if (sa_action_parse(buf, &g, w, h, &b, &piou2, NULL) != SA_OK) abort();
            if (b.click.y != a.click.y || b.click.x != a.click.x ||
                b.click.positive != a.click.positive)
                abort();
        }
        if (!isnan(piou) && !(piou >= 0.0f && piou <= 1.0f)) abort();
    }
    sa_box box;
    if (sa_box_parse(text, w, h, &box, NULL) == SA_OK &&
        !(box.x0 >= 0 && box.x0 <= box.x1 && box.x1 <= w - 1 && box.y0 >= 0 && box.y0 <= box.y1 &&
          box.y1 <= h - 1))
        abort();
    free(text);
    return 0;
}
