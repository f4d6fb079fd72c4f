/* What goes out is well-formed: the UTF-8 repair every JSON writer goes through (base/text.h),
 * checked against hand-written expectations (the Unicode table's edge cases), and the public JSON
 * file writer. */
#include <string.h>

#include <cjson/cJSON.h>

#include "base/text.h"
#include "segagent/fileio.h"
#include "testutil.h"

#define FFFD "\xEF\xBF\xBD"

static void expect_fix(const char *in, size_t len, const char *want) {
    size_t n = 0;
    char *out = sa__utf8_sanitize(in, len, &n);
    CHECKF(out && n == strlen(want) && !memcmp(out, want, n), "sanitize of %zu bytes: got \"%s\"",
           len, out ? out : "(null)");
    if (out) CHECK(sa__utf8_valid_prefix(out, n) == n);
    free(out);
}

static void test_sanitize(void) {
    const char *valid[] = {"",
                           "plain ascii",
                           "caf\xC3\xA9",
                           "\xE2\x82\xAC 5",
                           "\xF0\x9F\x98\x80",
                           "\xED\x9F\xBF",
                           "\xF4\x8F\xBF\xBF",
                           "tab\tand\nnewline"};
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(valid[i]);
        CHECKF(sa__utf8_valid_prefix(valid[i], n) == n, "valid %d", i);
        expect_fix(valid[i], n, valid[i]);
    }
    expect_fix("a\xFF"
               "b",
               3, "a" FFFD "b");
    expect_fix("\x80\x80", 2, FFFD FFFD); /* stray continuation bytes */
    expect_fix("\xC3", 1, FFFD);          /* truncated at the end */
    expect_fix("\xE2\x82"
               "x",
               3, FFFD "x");                       /* truncated sequence: one replacement */
    expect_fix("\xC0\xAF", 2, FFFD FFFD);          /* overlong "/" */
    expect_fix("\xE0\x80\xAF", 3, FFFD FFFD FFFD); /* overlong, 3 bytes */
    expect_fix("\xED\xA0\x80", 3, FFFD FFFD FFFD); /* a surrogate */
    expect_fix("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    expect_fix("\xF5\xBF", 2, FFFD FFFD);
    CHECK(sa__utf8_valid_prefix("ok\xFFno", 5) == 2);
    char *s = malloc(8);
    memcpy(s, "ok\xFE!", 5);
    s = sa__utf8_fix(s);
    CHECK(s && !strcmp(s, "ok" FFFD "!"));
    free(s);
}

static void test_json_out(void) {
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "file", "photo\xFF\xFE.jpg");
    cJSON_AddStringToObject(doc, "caption", "the caf\xC3\xA9 sign \xC3");
    char *txt = sa__json_print(doc, 0);
    CHECKF(txt && !strcmp(txt, "{\"file\":\"photo" FFFD FFFD
                               ".jpg\",\"caption\":\"the caf\xC3\xA9 sign " FFFD "\"}"),
           "%s", txt ? txt : "(null)");
    free(txt);
    char *dir = tu_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/out.json", dir);
    sa_error err = {0};
    CHECKF(sa_file_write_json(path, doc, &err) == SA_OK, "%s", err.msg);
    size_t n = 0;
    char *back = tu_read_file(path, &n);
    CHECK(back && sa__utf8_valid_prefix(back, n) == n && strstr(back, "photo" FFFD FFFD ".jpg"));
    free(back);
    cJSON_Delete(doc);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    test_sanitize();
    test_json_out();
    return tu_finish("test_text");
}
