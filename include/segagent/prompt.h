/* Prompts for the policy model (docs/grammar.md): the text that goes with the overlay image.
 *
 *   sa_prompt *p = NULL;
 *   sa_prompt_load("qwen", &p, &err);             // or "llava", or a path to a text file
 *   char *text = sa_prompt_render(p, "the man in the red jacket", &err);   // malloc'd; free()
 *   const char *sys = sa_prompt_system(p);        // system message or NULL
 *   sa_prompt_free(p);
 *
 * A template holds the literal text with one or more slots "{description}" (the name our files use) or
 * "{caption}" (the name the released model's code uses); both are replaced by the description verbatim.
 * "qwen" is the released SegAgent-Qwen prompt, which must be sent byte for byte (no space before <ref>),
 * with the system message "You are a helpful assistant.". "llava" is a longer annotator instruction in our
 * own words, after the description of the paper's Fig. 6. A file prompt is read whole (at most
 * SA_PROMPT_MAX_BYTES); a first line "system: ..." sets the system message. A template without any slot is
 * rejected (the model would never see the description).
 *
 * The grounding prompt asks a Qwen-style model for a box of the described object ("<box>(x1,y1),(x2,y2)</box>",
 * parsed by sa_box_parse in action.h); it is used for the optional model-grounded first action.
 */
#ifndef SEGAGENT_PROMPT_H
#define SEGAGENT_PROMPT_H

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_PROMPT_MAX_BYTES (64 * 1024)

/* The released SegAgent-Qwen user prompt, with the "{caption}" slot. */
extern const char SA_PROMPT_QWEN[];
/* The system message that goes with it in Qwen-VL chat framing. */
extern const char SA_PROMPT_QWEN_SYSTEM[];
/* The long annotator prompt (LLaVA variant), with the "{description}" slot. Ours. */
extern const char SA_PROMPT_LLAVA[];
/* The grounding prompt (Qwen-VL style), with the "{description}" slot. Ours. */
extern const char SA_PROMPT_GROUND[];

typedef struct sa_prompt sa_prompt;

/* name_or_path: "qwen", "llava", "ground", or the path of a text file. */
int sa_prompt_load(const char *name_or_path, sa_prompt **out, sa_error *err);
/* From a template string (copied); system may be NULL. */
int sa_prompt_new(const char *template_text, const char *system, sa_prompt **out, sa_error *err);
void sa_prompt_free(sa_prompt *p);

/* The template with every slot replaced by description (non-NULL, non-empty). Returns a malloc'd string or
 * NULL with err set. */
char *sa_prompt_render(const sa_prompt *p, const char *description, sa_error *err);

const char *sa_prompt_system(const sa_prompt *p);   /* NULL when none */
const char *sa_prompt_template(const sa_prompt *p); /* the raw template */
const char *sa_prompt_name(const sa_prompt *p); /* "qwen", "llava", "ground", or the file path */

#ifdef __cplusplus
}
#endif
#endif
