/* SAM bad input and the tool adapter: a checkpoint with a missing or mis-shaped tensor (clear error naming the
 * tensor), a checkpoint without config.json (architecture from shapes alone, still at parity), prompts with a
 * point outside the image, a box with x1 < x0, a mask input of the wrong size, a bad label; the interactive tool
 * (first click multimask -> best predicted IoU, later clicks single mask with the previous logits, equal to the
 * direct API; clicks outside the image, reversed boxes and wrong-size previous logits rejected). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "segagent/sam.h"
#include "testutil.h"

/* Writes a copy of the safetensors file `src` to `dst`, with `edit` applied to the header JSON. */
/* While an edit runs: the size of the source's data area, and the zero bytes an edit wants appended
 * to it (tensors may not share bytes, so a re-pointed tensor gets its own). */
static size_t edit_data_len, edit_extra;

static int rewrite_safetensors(const char *src, const char *dst, void (*edit)(cJSON *hdr)) {
    size_t n = 0;
    char *buf = tu_read_file(src, &n);
    if (!buf || n < 8) return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (uint8_t)buf[i];
    if (hl > n - 8) return -1;
    char *js = malloc(hl + 1);
    memcpy(js, buf + 8, hl);
    js[hl] = 0;
    cJSON *h = cJSON_Parse(js);
    free(js);
    if (!h) return -1;
    edit_data_len = n - 8 - hl;
    edit_extra = 0;
    if (edit) edit(h);
    char *out = cJSON_PrintUnformatted(h);
    size_t ol = strlen(out), padded = (ol + 7) / 8 * 8;
    FILE *f = fopen(dst, "wb");
    if (!f) return -1;
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(padded >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(out, 1, ol, f);
    for (size_t i = ol; i < padded; i++)
        fputc(' ', f);
    fwrite(buf + 8 + hl, 1, n - 8 - hl, f);
    for (size_t i = 0; i < edit_extra; i++)
        fputc(0, f);
    fclose(f);
    free(out);
    cJSON_Delete(h);
    free(buf);
    return 0;
}

static void edit_missing(cJSON *h) {
    cJSON *t =
        cJSON_DetachItemFromObjectCaseSensitive(h, "vision_encoder.layers.1.mlp.lin1.weight");
    cJSON_AddItemToObject(h, "vision_encoder.layers.1.mlp.renamed.weight", t);
}

static void edit_shape(cJSON *h) {
    cJSON *t =
        cJSON_GetObjectItemCaseSensitive(h, "mask_decoder.transformer.layers.1.mlp.lin1.weight");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(64));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(128));
}

/* A checkpoint whose position-embedding grid times patch size overflows int (65536 x 65536): U8 tensors so
 * the data area stays small; must be rejected with a message, not wrap to a bogus image size. */
static void set_u8(cJSON *h, const char *name, const int *dims, int nd) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(h, name);
    if (!t) return;
    cJSON_ReplaceItemInObjectCaseSensitive(t, "dtype", cJSON_CreateString("U8"));
    cJSON_ReplaceItemInObjectCaseSensitive(t, "shape", cJSON_CreateIntArray(dims, nd));
    int off[2] = {(int)(edit_data_len + edit_extra), (int)(edit_data_len + edit_extra + 65536)};
    edit_extra += 65536;
    cJSON_ReplaceItemInObjectCaseSensitive(t, "data_offsets", cJSON_CreateIntArray(off, 2));
}

static void edit_huge_grid(cJSON *h) {
    static const int pos[4] = {1, 65536, 1, 1}, patch[4] = {1, 1, 65536, 1};
    set_u8(h, "vision_encoder.pos_embed", pos, 4);
    set_u8(h, "vision_encoder.patch_embed.projection.weight", patch, 4);
}

static uint16_t
f32_to_f16(float f) { /* round to nearest even, finite normal range of the weights only */
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    uint32_t sign = (v.u >> 16) & 0x8000u, e = (v.u >> 23) & 0xffu, man = v.u & 0x7fffffu;
    int ex = (int)e - 127 + 15;
    if (e == 0 || ex <= 0) return (uint16_t)sign; /* tiny -> 0 */
    if (ex >= 31) return (uint16_t)(sign | 0x7bffu);
    uint32_t h = sign | (uint32_t)ex << 10 | man >> 13, rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

/* Writes src (all F32) as an all-F16 safetensors file. */
static int write_f16(const char *src, const char *dst) {
    size_t n = 0;
    char *buf = tu_read_file(src, &n);
    if (!buf || n < 8) return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (uint8_t)buf[i];
    char *js = malloc(hl + 1);
    memcpy(js, buf + 8, hl);
    js[hl] = 0;
    cJSON *h = cJSON_Parse(js);
    free(js);
    const uint8_t *data = (const uint8_t *)buf + 8 + hl;
    uint16_t *out = malloc((n - 8 - hl) / 2 + 2);
    size_t off = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, h) {
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        if (!dt || !offs) continue;
        size_t b0 = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble,
               b1 = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t cnt = (b1 - b0) / 4;
        for (size_t i = 0; i < cnt; i++) {
            float f;
            memcpy(&f, data + b0 + 4 * i, 4);
            out[off / 2 + i] = f32_to_f16(f);
        }
        cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F16"));
        cJSON *no = cJSON_CreateArray();
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)(off + 2 * cnt)));
        cJSON_ReplaceItemInObject(t, "data_offsets", no);
        off += 2 * cnt;
    }
    char *hs = cJSON_PrintUnformatted(h);
    size_t ol = strlen(hs), padded = (ol + 7) / 8 * 8;
    FILE *f = fopen(dst, "wb");
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(padded >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(hs, 1, ol, f);
    for (size_t i = ol; i < padded; i++)
        fputc(' ', f);
    fwrite(out, 1, off, f);
    fclose(f);
    free(hs);
    free(out);
    cJSON_Delete(h);
    free(buf);
    return 0;
}

/* An F16 checkpoint goes through the conversion arena; its masks stay close to the F32 model's. */
static void f16_checkpoint(const char *tiny, const char *tmp) {
    char src[4200], dst[4200], img_path[4200];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    snprintf(dst, sizeof dst, "%s/f16.safetensors", tmp);
    snprintf(img_path, sizeof img_path, "%s/image.png", tiny);
    CHECK(write_f16(src, dst) == 0);
    sa_error err = {0};
    sa_sam_model *a = NULL, *b = NULL;
    CHECK(sa_sam_model_load(src, sa_sam_default_params(), &a, &err) == SA_OK);
    int rc = sa_sam_model_load(dst, sa_sam_default_params(), &b, &err);
    CHECKF(rc == SA_OK, "F16 load: %s", err.msg);
    sa_image img = {0};
    CHECK(sa_image_load(img_path, &img, &err) == SA_OK);
    if (a && b && img.data) {
        CHECK(sa_sam_model_param_count(a) == sa_sam_model_param_count(b));
        sa_sam_image *ea = NULL, *eb = NULL;
        CHECK(sa_sam_encode(a, &img, NULL, NULL, &ea, &err) == SA_OK);
        CHECK(sa_sam_encode(b, &img, NULL, NULL, &eb, &err) == SA_OK);
        float pt[2] = {72, 49};
        int lab[1] = {1};
        sa_sam_prompt p = {.points = pt, .labels = lab, .n_points = 1};
        sa_sam_output oa = {0}, ob = {0};
        CHECK(sa_sam_predict(ea, &p, &oa, &err) == SA_OK);
        CHECK(sa_sam_predict(eb, &p, &ob, &err) == SA_OK);
        size_t plane = (size_t)img.width * img.height, diff = 0;
        for (size_t i = 0; oa.mask_logits && ob.mask_logits && i < plane; i++)
            diff += (oa.mask_logits[i] > 0) != (ob.mask_logits[i] > 0);
        printf("F16 checkpoint: %zu of %zu mask pixels differ from F32\n", diff, plane);
        CHECK(diff < plane / 50);
        sa_sam_output_free(&oa);
        sa_sam_output_free(&ob);
        sa_sam_image_free(ea);
        sa_sam_image_free(eb);
    }
    sa_image_free(&img);
    sa_sam_model_free(a);
    sa_sam_model_free(b);
    remove(dst);
}

static void print_line(void *ctx, const char *line) {
    (void)ctx;
    if (strncmp(line, "ok", 2)) printf("    %s\n", line);
}

static void loader_errors(const char *tiny) {
    char *tmp = tu_tmpdir();
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    sa_error err = {0};
    sa_sam_model *m = NULL;

    snprintf(dst, sizeof dst, "%s/missing.safetensors", tmp);
    CHECK(rewrite_safetensors(src, dst, edit_missing) == 0);
    int rc = sa_sam_model_load(dst, sa_sam_default_params(), &m, &err);
    printf("missing tensor: %s\n", err.msg);
    CHECK(rc == SA_ERR_NOT_FOUND && m == NULL);
    CHECK(strstr(err.msg, "vision_encoder.layers.1.mlp.lin1.weight") != NULL);

    snprintf(dst, sizeof dst, "%s/shape.safetensors", tmp);
    CHECK(rewrite_safetensors(src, dst, edit_shape) == 0);
    rc = sa_sam_model_load(dst, sa_sam_default_params(), &m, &err);
    printf("mis-shaped tensor: %s\n", err.msg);
    CHECK(rc == SA_ERR_RANGE && m == NULL);
    CHECK(strstr(err.msg, "mask_decoder.transformer.layers.1.mlp.lin1.weight") != NULL);

    snprintf(dst, sizeof dst, "%s/huge.safetensors", tmp);
    CHECK(rewrite_safetensors(src, dst, edit_huge_grid) == 0);
    rc = sa_sam_model_load(dst, sa_sam_default_params(), &m, &err);
    printf("huge grid: %s\n", err.msg);
    CHECK(rc == SA_ERR_FORMAT && m == NULL);
    CHECK(strstr(err.msg, "huge.safetensors") != NULL &&
          strstr(err.msg, "patch size 65536") != NULL);
    remove(dst);

    /* a config.json asking for a decoder head count the widths cannot split: refused, naming the checkpoint */
    {
        char sub[4200], cfg[4300], st[4300];
        snprintf(sub, sizeof sub, "%s/badcfg", tmp);
        CHECK(mkdir(sub, 0700) == 0);
        snprintf(st, sizeof st, "%s/model.safetensors", sub);
        CHECK(rewrite_safetensors(src, st, NULL) == 0);
        snprintf(cfg, sizeof cfg, "%s/config.json", sub);
        FILE *f = fopen(cfg, "w");
        CHECK(f != NULL);
        if (f) {
            fputs("{\"mask_decoder_config\": {\"num_attention_heads\": 7}}", f);
            fclose(f);
        }
        rc = sa_sam_model_load(st, sa_sam_default_params(), &m, &err);
        printf("bad config: %s\n", err.msg);
        CHECK(rc == SA_ERR_FORMAT && m == NULL &&
              strstr(err.msg, "badcfg/model.safetensors") != NULL);
        remove(cfg);
        remove(st);
        remove(sub);
    }

    /* no config.json: every dimension from the shapes; still at parity */
    snprintf(dst, sizeof dst, "%s/model.safetensors", tmp);
    CHECK(rewrite_safetensors(src, dst, NULL) == 0);
    sa_sam_check_params p = sa_sam_check_default_params();
    p.weights = dst;
    int fails = -1;
    rc = sa_sam_check_fixture(tiny, p, print_line, NULL, &fails, &err);
    CHECKF(rc == SA_OK && fails == 0, "no-config parity: rc %d, %d fails, %s", rc, fails, err.msg);

    /* a fixture whose cases.json holds a label far outside int: refused as a bad label, naming the folder */
    {
        char fx[4200], a[4300], b[4300];
        snprintf(fx, sizeof fx, "%s/fx", tmp);
        CHECK(mkdir(fx, 0700) == 0);
        const char *links[] = {"image.png", "expected.safetensors", "model.safetensors",
                               "config.json"};
        char *abs_tiny = realpath(tiny, NULL); /* symlink targets resolve from the link's folder */
        CHECK(abs_tiny != NULL);
        for (int i = 0; i < 4 && abs_tiny; i++) {
            snprintf(a, sizeof a, "%s/%s", abs_tiny, links[i]);
            snprintf(b, sizeof b, "%s/%s", fx, links[i]);
            CHECK(symlink(a, b) == 0);
        }
        free(abs_tiny);
        snprintf(a, sizeof a, "%s/cases.json", fx);
        FILE *f = fopen(a, "w");
        CHECK(f != NULL);
        if (f) {
            fputs(
                "{\"cases\": [{\"name\": \"big_label\", \"points\": [[10, 10]], \"labels\": [1e10]}]}",
                f);
            fclose(f);
        }
        sa_sam_check_params q = sa_sam_check_default_params();
        rc = sa_sam_check_fixture(fx, q, NULL, NULL, &fails, &err);
        printf("bad label: %s\n", err.msg);
        CHECK(rc == SA_ERR_FORMAT && strstr(err.msg, "label") != NULL &&
              strstr(err.msg, fx) != NULL);
        /* the real cases.json, truncated: not valid JSON (not 'no "cases" array') */
        char orig[4300];
        snprintf(orig, sizeof orig, "%s/cases.json", tiny);
        size_t cn = 0;
        char *cases = tu_read_file(orig, &cn);
        CHECK(cases && cn > 400);
        if (cases && cn > 400) {
            f = fopen(a, "w");
            fwrite(cases, 1, cn / 2, f);
            fclose(f);
            rc = sa_sam_check_fixture(fx, q, NULL, NULL, &fails, &err);
            printf("truncated cases.json: %s\n", err.msg);
            CHECK(rc == SA_ERR_PARSE && strstr(err.msg, "not valid JSON (ends early") &&
                  !strstr(err.msg, "no \"cases\""));
            /* cases.json naming an image size that is not image.png's: no "parity ok" */
            char *hw = strstr(cases, "\"image_hw\"");
            CHECK(hw != NULL);
            if (hw) {
                char *open_br = strchr(hw, '['), *close_br = open_br ? strchr(open_br, ']') : NULL;
                f = fopen(a, "w");
                fwrite(cases, 1, (size_t)(open_br - cases), f);
                fputs("[300, 200", f); /* (height, width) swapped */
                fputs(close_br, f);
                fclose(f);
                rc = sa_sam_check_fixture(fx, q, NULL, NULL, &fails, &err);
                printf("wrong image_hw: %s\n", err.msg);
                CHECK(rc == SA_ERR_FORMAT && strstr(err.msg, "image_hw") &&
                      strstr(err.msg, "300x200"));
            }
        }
        free(cases);
        remove(a);
        for (int i = 0; i < 4; i++) {
            snprintf(b, sizeof b, "%s/%s", fx, links[i]);
            remove(b);
        }
        remove(fx);
    }

    rc = sa_sam_model_load("/nonexistent/sam.safetensors", sa_sam_default_params(), &m, &err);
    CHECK(rc != SA_OK && m == NULL && err.msg[0]);
    sa_sam_arch a;
    CHECK(sa_sam_arch_preset("vit_q", &a, &err) == SA_ERR_NOT_FOUND);
    f16_checkpoint(tiny, tmp);
    const char *files[] = {"missing.safetensors", "shape.safetensors", "model.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        remove(dst);
    }
    remove(tmp);
    free(tmp);
}

static void prompt_errors(sa_sam_image *e, int lr) {
    sa_error err = {0};
    sa_sam_output o = {0};
    float pt_out[2] = {301.0f, 10.0f}, pt_neg[2] = {-1.0f, 10.0f}, pt_ok[2] = {10.0f, 10.0f};
    int lab1[1] = {1}, lab2[1] = {2};
    sa_sam_prompt p = {.points = pt_out, .labels = lab1, .n_points = 1};
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_ERR_RANGE && o.mask_logits == NULL);
    printf("point outside: %s\n", err.msg);
    p.points = pt_neg;
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_ERR_RANGE);
    p.points = pt_ok;
    p.labels = lab2;
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_ERR_RANGE);
    p.labels = lab1;
    float box_bad[4] = {100, 20, 50, 80};
    p.box = box_bad;
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_ERR_RANGE);
    printf("reversed box: %s\n", err.msg);
    p.box = NULL;
    float *mask = calloc((size_t)lr * lr, sizeof(float));
    p.mask_input = mask;
    p.mask_input_size = lr / 2;
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_ERR_RANGE);
    printf("mask input size: %s\n", err.msg);
    p.mask_input_size = lr;
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_OK && o.n_masks == 1);
    sa_sam_output_free(&o);
    sa_sam_prompt none = {0};
    CHECK(sa_sam_predict(e, &none, &o, &err) == SA_ERR_INVALID);
    /* a box touching the border and a mask-only prompt are fine */
    float box_ok[4] = {0, 0, 300, 200};
    sa_sam_prompt pb = {.box = box_ok};
    CHECK(sa_sam_predict(e, &pb, &o, &err) == SA_OK);
    sa_sam_output_free(&o);
    sa_sam_prompt pm = {.mask_input = mask, .mask_input_size = lr};
    CHECK(sa_sam_predict(e, &pm, &o, &err) == SA_OK);
    sa_sam_output_free(&o);
    free(mask);
}

static void tool_flow(const char *tiny, const sa_image *img) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", tiny);
    sa_error err = {0};
    sa_sam_model *m = NULL, *m2 = NULL;
    CHECK(sa_sam_model_load(path, sa_sam_default_params(), &m, &err) == SA_OK);
    CHECK(sa_sam_model_load(path, sa_sam_default_params(), &m2, &err) == SA_OK);
    sa_tool *tool = NULL;
    if (sa_sam_tool_new(m, &tool, &err) != SA_OK) {
        CHECKF(0, "tool: %s", err.msg);
        sa_sam_model_free(m2);
        return;
    }
    CHECK(!strcmp(sa_tool_name(tool), "sam") && sa_tool_accepts_box(tool));
    sa_tool_session *s = NULL;
    CHECK(sa_tool_session_new(tool, img, &s, &err) == SA_OK);
    const int lr = sa_sam_low_res_size(m2);
    /* first click: multimask, best predicted IoU -- equal to the direct API */
    sa_click clicks[3] = {{.y = 49, .x = 72, .positive = 1},
                          {.y = 150, .x = 200, .positive = 0},
                          {.y = 100, .x = 120, .positive = 1}};
    sa_tool_request req = {.clicks = clicks, .n_clicks = 1};
    sa_tool_result r1 = {0}, r2 = {0}, bad = {0};
    CHECK(sa_tool_session_predict(s, &req, &r1, &err) == SA_OK);
    CHECK(r1.mask.width == img->width && r1.mask.height == img->height && r1.prob && r1.aux);
    CHECK(r1.n_aux == (size_t)lr * lr && isfinite(r1.score));
    sa_sam_image *e = NULL;
    CHECK(sa_sam_encode(m2, img, NULL, NULL, &e, &err) == SA_OK);
    float pt[2] = {72, 49};
    int lab[1] = {1};
    sa_sam_prompt p = {.points = pt, .labels = lab, .n_points = 1, .multimask = 1};
    sa_sam_output o = {0};
    CHECK(sa_sam_predict(e, &p, &o, &err) == SA_OK && o.n_masks == 3);
    int best = 0;
    for (int k = 1; k < o.n_masks; k++)
        if (o.iou_pred[k] > o.iou_pred[best]) best = k;
    CHECK(fabsf(o.iou_pred[best] - r1.score) < 1e-6f);
    long diff = 0;
    size_t plane = (size_t)img->width * img->height;
    for (size_t i = 0; i < plane; i++)
        diff += (o.mask_logits[best * plane + i] > 0) != r1.mask.data[i];
    CHECKF(diff == 0, "tool mask differs from the direct API in %ld pixels", diff);
    sa_sam_output_free(&o);
    /* later clicks: single mask with the previous logits */
    req.n_clicks = 3;
    req.prev = &r1;
    CHECK(sa_tool_session_predict(s, &req, &r2, &err) == SA_OK);
    float pts3[6] = {72, 49, 200, 150, 120, 100};
    int labs3[3] = {1, 0, 1};
    sa_sam_prompt p3 = {.points = pts3,
                        .labels = labs3,
                        .n_points = 3,
                        .mask_input = r1.aux,
                        .mask_input_size = lr};
    CHECK(sa_sam_predict(e, &p3, &o, &err) == SA_OK && o.n_masks == 1);
    diff = 0;
    for (size_t i = 0; i < plane; i++)
        diff += (o.mask_logits[i] > 0) != r2.mask.data[i];
    CHECKF(diff == 0, "second step differs from the direct API in %ld pixels", diff);
    CHECK(fabsf(o.iou_pred[0] - r2.score) < 1e-6f);
    sa_sam_output_free(&o);
    /* bad requests */
    sa_click outside = {.y = 10, .x = img->width};
    sa_tool_request rq = {.clicks = &outside, .n_clicks = 1};
    CHECK(sa_tool_session_predict(s, &rq, &bad, &err) == SA_ERR_RANGE);
    printf("tool click outside: %s\n", err.msg);
    sa_box rb = {.x0 = 100, .y0 = 10, .x1 = 20, .y1 = 50};
    rq.clicks = clicks;
    rq.box = &rb;
    CHECK(sa_tool_session_predict(s, &rq, &bad, &err) == SA_ERR_RANGE);
    sa_tool_result wrong = {0};
    CHECK(sa_tool_result_copy(&r1, &wrong, &err) == SA_OK);
    wrong.n_aux = 100;
    sa_tool_request rw = {.clicks = clicks, .n_clicks = 2, .prev = &wrong};
    CHECK(sa_tool_session_predict(s, &rw, &bad, &err) == SA_ERR_RANGE);
    printf("tool previous logits of the wrong size: %s\n", err.msg);
    wrong.n_aux = (size_t)lr * lr;
    sa_tool_result_free(&wrong);
    /* a box alone, and a refinement start mask, run */
    sa_box box = {.x0 = 30, .y0 = 20, .x1 = 180, .y1 = 180};
    sa_tool_request rbx = {.box = &box};
    sa_tool_result r3 = {0};
    CHECK(sa_tool_session_predict(s, &rbx, &r3, &err) == SA_OK);
    sa_tool_request ri = {.clicks = clicks, .n_clicks = 1, .init_mask = &r2.mask};
    sa_tool_result r4 = {0};
    CHECK(sa_tool_session_predict(s, &ri, &r4, &err) == SA_OK && r4.n_aux == (size_t)lr * lr);
    sa_tool_result_free(&r1);
    sa_tool_result_free(&r2);
    sa_tool_result_free(&r3);
    sa_tool_result_free(&r4);
    sa_sam_image_free(e);
    sa_tool_session_free(s);
    sa_tool_free(tool);
    sa_sam_model_free(m2);
}

int main(void) {
    tu_require_shared();
    char *tiny = tu_shared_path("fixtures/sam/tiny");
    loader_errors(tiny);
    char path[4200];
    snprintf(path, sizeof path, "%s/image.png", tiny);
    sa_image img = {0};
    sa_error err = {0};
    CHECK(sa_image_load(path, &img, &err) == SA_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", tiny);
    sa_sam_model *m = NULL;
    CHECK(sa_sam_model_load(path, sa_sam_default_params(), &m, &err) == SA_OK);
    sa_sam_image *e = NULL;
    CHECK(sa_sam_encode(m, &img, NULL, NULL, &e, &err) == SA_OK);
    if (e) prompt_errors(e, sa_sam_low_res_size(m));
    sa_sam_image_free(e);
    sa_sam_model_free(m);
    tool_flow(tiny, &img);
    sa_image_free(&img);
    free(tiny);
    return tu_finish("test_sam_input");
}
