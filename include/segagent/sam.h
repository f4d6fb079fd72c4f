/* Segment Anything (SAM) in C: loads published checkpoints (HF safetensors, official .pth), runs the image
 * encoder once per image and the prompt encoder + mask decoder per click, matching the reference to float
 * precision. See SAM.md.
 *
 *   sa_sam_model *m = NULL;
 *   sa_sam_params p = sa_sam_default_params();
 *   p.threads = 2;
 *   sa_sam_model_load("sam-vit-base/", p, &m, &err);
 *   sa_tool *tool = NULL;
 *   sa_sam_tool_new(m, &tool, &err);     // the tool takes ownership of m
 */
#ifndef SEGAGENT_SAM_H
#define SEGAGENT_SAM_H

#include "segagent/error.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_sam_model sa_sam_model;

typedef struct sa_sam_params {
    int threads;    /* worker threads (>= 1) */
    int multimask;  /* 1: multimask output on the first click, pick best predicted IoU (default 1 for a single
                       click, 0 afterwards, as the SAM interactive demo does) */
    int reserved[8];
} sa_sam_params;

sa_sam_params sa_sam_default_params(void);
int sa_sam_model_load(const char *path, sa_sam_params params, sa_sam_model **out, sa_error *err);
void sa_sam_model_free(sa_sam_model *m);
/* Wraps the model as an interactive tool; the tool owns the model afterwards (also on failure). */
int sa_sam_tool_new(sa_sam_model *m, sa_tool **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
