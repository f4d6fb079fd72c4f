/* Prompts: the Qwen prompt is the released text byte for byte; rendering fills every slot; files with and
 * without a system line; bad files and empty descriptions are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/prompt.h"
#include "testutil.h"

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(s, f);
    fclose(f);
}

int main(void) {
    sa_error err = {0};
    sa_prompt *p = NULL;
    CHECK(sa_prompt_load("qwen", &p, &err) == SA_OK);
    char *t = sa_prompt_render(p, "the man in the red jacket", &err);
    CHECK(t != NULL);
    const char *want =
        "Please optimize the semi-transparent green mask in a point-wise manner based on the image and description "
        "content, so that it covers the target object as accurately as possible. The object description is as "
        "follows:<ref>the man in the red jacket</ref>";
    CHECKF(t && !strcmp(t, want), "qwen prompt: %s", t ? t : "(null)");
    CHECK(sa_prompt_system(p) && !strcmp(sa_prompt_system(p), "You are a helpful assistant."));
    free(t);
    CHECK(sa_prompt_render(p, "", &err) == NULL && err.code == SA_ERR_INVALID);
    CHECK(sa_prompt_render(p, NULL, &err) == NULL);
    sa_prompt_free(p);

    CHECK(sa_prompt_load("llava", &p, &err) == SA_OK);
    t = sa_prompt_render(p, "zebra on the left", NULL);
    CHECK(t && strstr(t, "Object description: zebra on the left") &&
          strstr(t, "Positive Point (x, y)") && strstr(t, "Negative Point (x, y)") &&
          !strstr(t, "{"));
    CHECK(sa_prompt_system(p) == NULL);
    free(t);
    sa_prompt_free(p);

    CHECK(sa_prompt_load("ground", &p, &err) == SA_OK);
    t = sa_prompt_render(p, "cat", NULL);
    CHECK(t && strstr(t, "<ref>cat</ref>"));
    free(t);
    sa_prompt_free(p);

    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/p1.txt", dir);
        write_file(path, "system: Be brief.\nSegment {description}; again: {caption}.\n");
        CHECK(sa_prompt_load(path, &p, &err) == SA_OK);
        t = sa_prompt_render(p, "dog", NULL);
        CHECKF(t && !strcmp(t, "Segment dog; again: dog."), "%s", t ? t : "(null)");
        CHECK(sa_prompt_system(p) && !strcmp(sa_prompt_system(p), "Be brief."));
        CHECK(!strcmp(sa_prompt_name(p), path));
        free(t);
        sa_prompt_free(p);

        snprintf(path, sizeof path, "%s/p2.txt", dir);
        write_file(path, "Segment {braces} {description}");
        CHECK(sa_prompt_load(path, &p, &err) == SA_OK);
        t = sa_prompt_render(p, "x", NULL);
        CHECK(t && !strcmp(t, "Segment {braces} x"));
        free(t);
        sa_prompt_free(p);

        snprintf(path, sizeof path, "%s/p3.txt", dir);
        write_file(path, "No slot here.\n");
        p = (sa_prompt *)1;
        CHECK(sa_prompt_load(path, &p, &err) == SA_ERR_FORMAT && p == NULL &&
              strstr(err.msg, "p3.txt"));
        snprintf(path, sizeof path, "%s/missing.txt", dir);
        CHECK(sa_prompt_load(path, &p, &err) == SA_ERR_IO && strstr(err.msg, "missing.txt"));
        free(dir);
    }
    CHECK(sa_prompt_new("A {description} B", NULL, &p, &err) == SA_OK);
    t = sa_prompt_render(p, "c", NULL);
    CHECK(t && !strcmp(t, "A c B"));
    free(t);
    sa_prompt_free(p);
    CHECK(sa_prompt_new("no slot", NULL, &p, &err) == SA_ERR_FORMAT);
    sa_prompt_free(NULL);
    return tu_finish("test_prompt");
}
