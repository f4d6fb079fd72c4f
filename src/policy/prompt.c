/* Prompts: the released SegAgent-Qwen text (verbatim, an interface constant), our long annotator prompt for
 * the LLaVA variant, a grounding prompt, and prompts read from files.
 *
 * Design: a prompt is a template plus an optional system message; rendering replaces every "{description}"
 * and "{caption}" slot with the description. Nothing else in the template is interpreted, so braces in a
 * user's file stay as written.
 */
#include "segagent/prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"

const char SA_PROMPT_QWEN[] =
    "Please optimize the semi-transparent green mask in a point-wise manner based on the image and description "
    "content, so that it covers the target object as accurately as possible. The object description is as "
    "follows:<ref>{caption}</ref>";

const char SA_PROMPT_QWEN_SYSTEM[] = "You are a helpful assistant.";

const char SA_PROMPT_LLAVA[] =
    "You are a skilled annotator working with an interactive segmentation tool. In the image, the current mask "
    "is painted as a semi-transparent green layer. Your goal is to make this mask match the object described "
    "below as closely as possible, placing one point at a time; after each point the tool recomputes the mask "
    "from all points placed so far.\n"
    "You may take one of two actions:\n"
    "- Positive Point (x, y): mark a place that belongs to the object but is not yet covered by the green "
    "mask, so that the tool adds the missing part.\n"
    "- Negative Point (x, y): mark a place that the green mask covers but that is background or another "
    "object, so that the tool removes it.\n"
    "Coordinates are relative to the image width and height, between 0 and 1. Compare the mask with the object, "
    "find where they disagree the most, and answer with the single action that helps most, written as "
    "\"Positive point: (a, b)\" or \"Negative point: (a, b)\".\n"
    "Object description: {description}";

const char SA_PROMPT_GROUND[] =
    "Find the object described as <ref>{description}</ref> in the image and give its bounding box.";

struct sa_prompt {
    char *name;
    char *text;
    char *system;
};

static int has_slot(const char *t) {
    return strstr(t, "{description}") || strstr(t, "{caption}");
}

static int prompt_make(const char *name, const char *text, const char *system, sa_prompt **out,
                       sa_error *err) {
    sa_prompt *p = calloc(1, sizeof *p);
    if (!p) return sa_error_set(err, SA_ERR_NOMEM, "prompt: out of memory");
    p->name = sa__strdup(name);
    p->text = sa__strdup(text);
    p->system = system ? sa__strdup(system) : NULL;
    if (!p->name || !p->text || (system && !p->system)) {
        sa_prompt_free(p);
        return sa_error_set(err, SA_ERR_NOMEM, "prompt: out of memory");
    }
    *out = p;
    return SA_OK;
}

int sa_prompt_new(const char *template_text, const char *system, sa_prompt **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_prompt_new: NULL out");
    *out = NULL;
    if (!template_text) return sa_error_set(err, SA_ERR_INVALID, "sa_prompt_new: NULL template");
    if (!has_slot(template_text))
        return sa_error_set(err, SA_ERR_FORMAT, "prompt template has no {description} slot");
    return prompt_make("custom", template_text, system, out, err);
}

int sa_prompt_load(const char *name, sa_prompt **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_prompt_load: NULL out");
    *out = NULL;
    if (!name || !*name)
        return sa_error_set(err, SA_ERR_INVALID, "sa_prompt_load: empty prompt name");
    if (!strcmp(name, "qwen"))
        return prompt_make("qwen", SA_PROMPT_QWEN, SA_PROMPT_QWEN_SYSTEM, out, err);
    if (!strcmp(name, "llava")) return prompt_make("llava", SA_PROMPT_LLAVA, NULL, out, err);
    if (!strcmp(name, "ground"))
        return prompt_make("ground", SA_PROMPT_GROUND, SA_PROMPT_QWEN_SYSTEM, out, err);
    FILE *f = fopen(name, "rb");
    if (!f)
        return sa_error_set(err, SA_ERR_IO,
                            "%s: cannot open prompt file (%s); built-in prompts: qwen, llava", name,
                            strerror(errno));
    char *buf = malloc(SA_PROMPT_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t n = fread(buf, 1, SA_PROMPT_MAX_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return sa_error_set(err, SA_ERR_IO, "%s: read error", name);
    }
    if (n > SA_PROMPT_MAX_BYTES) {
        free(buf);
        return sa_error_set(err, SA_ERR_RANGE, "%s: prompt file larger than %d bytes", name,
                            SA_PROMPT_MAX_BYTES);
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: prompt file contains NUL bytes", name);
    }
    char *text = buf, *system = NULL;
    if (!strncmp(buf, "system:", 7)) {
        char *nl = strchr(buf, '\n');
        if (!nl) {
            free(buf);
            return sa_error_set(err, SA_ERR_FORMAT, "%s: only a system line, no prompt", name);
        }
        *nl = 0;
        if (nl > buf && nl[-1] == '\r') nl[-1] = 0;
        system = buf + 7;
        while (*system == ' ')
            system++;
        text = nl + 1;
    }
    /* a trailing newline is an editor artefact, not part of the prompt */
    size_t tl = strlen(text);
    while (tl && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
        text[--tl] = 0;
    if (!has_slot(text)) {
        free(buf);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: prompt has no {description} slot", name);
    }
    int rc = prompt_make(name, text, system, out, err);
    free(buf);
    return rc;
}

void sa_prompt_free(sa_prompt *p) {
    if (!p) return;
    free(p->name);
    free(p->text);
    free(p->system);
    free(p);
}

char *sa_prompt_render(const sa_prompt *p, const char *description, sa_error *err) {
    if (!p) {
        sa_error_set(err, SA_ERR_INVALID, "sa_prompt_render: NULL prompt");
        return NULL;
    }
    if (!description || !*description) {
        sa_error_set(err, SA_ERR_INVALID, "empty object description");
        return NULL;
    }
    static const char *const slots[2] = {"{description}", "{caption}"};
    size_t dl = strlen(description), tl = strlen(p->text);
    /* count slots to size the output */
    size_t n_slots = 0;
    for (const char *q = p->text; *q; q++)
        for (int s = 0; s < 2; s++)
            if (!strncmp(q, slots[s], strlen(slots[s]))) n_slots++;
    if (dl > ((size_t)-1 - tl - 1) / (n_slots + 1)) {
        sa_error_set(err, SA_ERR_NOMEM, "prompt: description too long");
        return NULL;
    }
    char *out = malloc(tl + n_slots * dl + 1);
    if (!out) {
        sa_error_set(err, SA_ERR_NOMEM, "prompt: out of memory");
        return NULL;
    }
    char *o = out;
    for (const char *q = p->text; *q;) {
        int hit = 0;
        for (int s = 0; s < 2 && !hit; s++) {
            size_t sl = strlen(slots[s]);
            if (!strncmp(q, slots[s], sl)) {
                memcpy(o, description, dl);
                o += dl;
                q += sl;
                hit = 1;
            }
        }
        if (!hit) *o++ = *q++;
    }
    *o = 0;
    return out;
}

const char *sa_prompt_system(const sa_prompt *p) {
    return p ? p->system : NULL;
}
const char *sa_prompt_template(const sa_prompt *p) {
    return p ? p->text : NULL;
}
const char *sa_prompt_name(const sa_prompt *p) {
    return p ? p->name : NULL;
}
