/* Export of trajectories as fine-tuning records (LLaVA, Qwen-VL, LLaMA-Factory sharegpt, ms-swift).
 *
 * Design: one pass over the samples; per sample the image is decoded once, then per step the state mask is
 * decoded from its RLE, painted, optionally resized and written as a JPEG, and one record is appended to the
 * output file. Records are streamed (the JSON array is opened and closed by hand around compact cJSON
 * objects), so memory stays at one image whatever the split size. The prompt and the action text come from
 * prompt.c / action.c, the same code the live agent uses, so training and inference text cannot drift apart.
 */
#include "segagent/export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segagent/prompt.h"
#include "segagent/rle.h"
#include "base/files.h"
#include "base/text.h"

static const char *const fmt_names[] = {"llava", "qwen-vl", "llamafactory", "swift"};
static const char *const fmt_files[] = {"llava.json", "qwen_vl.json", "segagent_sharegpt.json",
                                        "segagent_swift.jsonl"};

int sa_export_format_from_name(const char *name, sa_export_format *out, sa_error *err) {
    static const struct {
        const char *n;
        sa_export_format f;
    } names[] = {{"llava", SA_EXPORT_LLAVA},
                 {"qwen-vl", SA_EXPORT_QWENVL},
                 {"qwenvl", SA_EXPORT_QWENVL},
                 {"qwen", SA_EXPORT_QWENVL},
                 {"llamafactory", SA_EXPORT_LLAMAFACTORY},
                 {"llama-factory", SA_EXPORT_LLAMAFACTORY},
                 {"sharegpt", SA_EXPORT_LLAMAFACTORY},
                 {"swift", SA_EXPORT_SWIFT},
                 {"ms-swift", SA_EXPORT_SWIFT}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].n)) {
            *out = names[i].f;
            return SA_OK;
        }
    return sa_error_set(err, SA_ERR_INVALID,
                        "export format '%s': expected llava, qwen-vl, llamafactory or swift",
                        name ? name : "(null)");
}

const char *sa_export_format_name(sa_export_format f) {
    return (unsigned)f < 4u ? fmt_names[f] : "?";
}

const char *sa_export_file_name(sa_export_format f) {
    return (unsigned)f < 4u ? fmt_files[f] : "";
}

sa_export_params sa_export_default_params(sa_export_format f) {
    sa_export_params p;
    memset(&p, 0, sizeof p);
    p.format = f;
    p.grammar = sa_grammar_default();
    p.style = sa_overlay_default_style();
    p.jpeg_quality = 75;
    p.absolute_paths = -1;
    if (f == SA_EXPORT_LLAVA) {
        p.size = 512;
        p.prompt = "llava";
        p.grammar.coords = SA_COORDS_FLOAT1;
    } else {
        p.size = 448;
        p.prompt = "qwen";
    }
    return p;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds the image file of a sample in one folder (see export.h). Returns 1 and fills buf when found. */
static int find_image_in(const char *dir, const char *name, char *buf, size_t cap) {
    if (snprintf(buf, cap, "%s/%s", dir, name) < (int)cap && file_exists(buf)) return 1;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!strchr(base, '.')) {
        static const char *const exts[] = {".jpg", ".png", ".jpeg", ".bmp", ".JPG", ".PNG"};
        for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
            if (snprintf(buf, cap, "%s/%s%s", dir, name, exts[i]) < (int)cap && file_exists(buf))
                return 1;
        size_t k = 0;
        while (name[k] >= '0' && name[k] <= '9')
            k++;
        if (k > 0 && k <= 12 && name[k] == '\0' &&
            snprintf(buf, cap, "%s/COCO_train2014_%012lld.jpg", dir, atoll(name)) < (int)cap &&
            file_exists(buf))
            return 1;
    }
    return 0;
}

static int find_image(const char *const *dirs, int n, const char *name, char *buf, size_t cap) {
    if (name[0] == '/' && snprintf(buf, cap, "%s", name) < (int)cap && file_exists(buf)) return 1;
    for (int i = 0; i < n; i++)
        if (find_image_in(dirs[i], name, buf, cap)) return 1;
    return 0;
}

/* A file-name-safe stem of an image name (basename without extension), at most 48 characters. */
static void safe_stem(const char *name, char *out, size_t cap) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n > 48) n = 48;
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_')
                     ? c
                     : '_';
    }
    out[n] = '\0';
    if (n == 0 && cap > 3) memcpy(out, "img", 4);
}

/* The records file, written under a temporary name and renamed into place when complete (base/files.h). */
typedef struct out_file {
    sa__out out;
    FILE *f; /* out.f while open */
    char path[PATH_MAX];
    long n;
    int jsonl;
} out_file;

static int out_open(out_file *o, const char *dir, const char *name, int jsonl, sa_error *err) {
    memset(o, 0, sizeof *o);
    if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path)
        return sa_error_set(err, SA_ERR_INVALID, "%s: path too long", dir);
    o->jsonl = jsonl;
    int rc = sa__out_open(&o->out, o->path, err);
    if (rc != SA_OK) return rc;
    o->f = o->out.f;
    if (!jsonl) fputs("[", o->f);
    return SA_OK;
}

static int out_add(out_file *o, cJSON *rec, sa_error *err) {
    char *txt = sa__json_print(rec, 0);
    if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", o->path);
    int bad;
    if (o->jsonl)
        bad = fputs(txt, o->f) < 0 || fputc('\n', o->f) == EOF;
    else
        bad = fputs(o->n ? ",\n" : "\n", o->f) < 0 || fputs(txt, o->f) < 0;
    free(txt);
    if (bad) return sa_error_set(err, SA_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->n++;
    return SA_OK;
}

static int out_close(out_file *o, sa_error *err) {
    if (!o->f) return SA_OK;
    if (!o->jsonl) fputs("\n]\n", o->f);
    o->f = NULL;
    return sa__out_commit(&o->out, err); /* reports any write error since open */
}

/* Discards a records file that is not complete (the path keeps what it held). */
static void out_abort(out_file *o) {
    o->f = NULL;
    sa__out_abort(&o->out);
}

static int write_dataset_info(const char *dir, sa_error *err) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/dataset_info.json", dir) >= (int)sizeof path)
        return sa_error_set(err, SA_ERR_INVALID, "%s: path too long", dir);
    sa__out o;
    int rc = sa__out_open(&o, path, err);
    if (rc != SA_OK) return rc;
    FILE *f = o.f;
    fprintf(
        f,
        "{\n"
        "  \"segagent\": {\n"
        "    \"file_name\": \"%s\",\n"
        "    \"formatting\": \"sharegpt\",\n"
        "    \"columns\": {\"messages\": \"messages\", \"images\": \"images\"},\n"
        "    \"tags\": {\"role_tag\": \"role\", \"content_tag\": \"content\", \"user_tag\": \"user\","
        " \"assistant_tag\": \"assistant\"}\n"
        "  }\n"
        "}\n",
        fmt_files[SA_EXPORT_LLAMAFACTORY]);
    return sa__out_commit(&o, err);
}

/* Appends a string-valued pair object {"k1": v1, "k2": v2} to arr. */
static int add_turn(cJSON *arr, const char *k1, const char *v1, const char *k2, const char *v2) {
    cJSON *t = cJSON_CreateObject();
    if (!t || !cJSON_AddStringToObject(t, k1, v1) || !cJSON_AddStringToObject(t, k2, v2) ||
        !cJSON_AddItemToArray(arr, t)) {
        cJSON_Delete(t);
        return 0;
    }
    return 1;
}

/* Builds one record. img_path is what the record names; prompt the rendered prompt; target the action text. */
static cJSON *make_record(sa_export_format f, const char *id, const char *img_path,
                          const char *prompt, const char *target) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    int ok = 1;
    char *user = NULL;
    size_t ul = strlen(prompt) + strlen(img_path) + 64;
    if (!(user = malloc(ul))) goto fail;
    if (f == SA_EXPORT_LLAVA || f == SA_EXPORT_QWENVL) {
        ok = cJSON_AddStringToObject(r, "id", id) != NULL;
        if (ok && f == SA_EXPORT_LLAVA) ok = cJSON_AddStringToObject(r, "image", img_path) != NULL;
        cJSON *conv = ok ? cJSON_AddArrayToObject(r, "conversations") : NULL;
        if (f == SA_EXPORT_LLAVA)
            snprintf(user, ul, "<image>\n%s", prompt);
        else
            snprintf(user, ul, "Picture 1: <img>%s</img>\n%s", img_path, prompt);
        ok = conv &&
             add_turn(conv, "from", f == SA_EXPORT_LLAVA ? "human" : "user", "value", user) &&
             add_turn(conv, "from", f == SA_EXPORT_LLAVA ? "gpt" : "assistant", "value", target);
    } else {
        cJSON *msgs = cJSON_AddArrayToObject(r, "messages");
        snprintf(user, ul, "<image>%s", prompt);
        ok = msgs && add_turn(msgs, "role", "user", "content", user) &&
             add_turn(msgs, "role", "assistant", "content", target);
        cJSON *imgs = ok ? cJSON_AddArrayToObject(r, "images") : NULL;
        ok = imgs && cJSON_AddItemToArray(imgs, cJSON_CreateString(img_path));
    }
    free(user);
    if (ok) return r;
fail:
    cJSON_Delete(r);
    return NULL;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void
report_problem(sa_export_report_fn report, void *user, int i, int n, const char *fmt, ...) {
    if (!report) return;
    char buf[SA_ERROR_MSG_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report(user, i, n, buf);
}

/* IoU of a state with the sample's ground truth (no ignore map is stored in the file); 0 when undecodable. */
static double measure_iou(const sa_traj_sample *s, const sa_mask *m) {
    sa_rle r = {0};
    sa_mask gt = {0};
    double iou = 0.0;
    if (s->gt && sa_rle_from_string(s->gt, strlen(s->gt), s->height, s->width, &r, NULL) == SA_OK &&
        sa_rle_decode(&r, &gt, NULL) == SA_OK)
        iou = sa_mask_iou(m, &gt, NULL);
    sa_mask_free(&gt);
    sa_rle_free(&r);
    return iou;
}

/* Exports the steps of one sample. Returns SA_OK, a per-sample problem (> 0 meaning "skip", message in *perr),
 * or a fatal error (< 0, writing the output failed). */
enum { SKIP = 1 };

typedef struct ctx {
    const sa_export_params *p;
    const char *const *image_dirs;
    int n_image_dirs;
    const char *out_dir;    /* as given */
    char abs_out[PATH_MAX]; /* realpath of out_dir */
    int absolute;
    sa_prompt *prompt;
    out_file out;
    sa_export_stats *st;
} ctx;

static int export_sample(ctx *c, const sa_traj_sample *s, int si, sa_error *perr, sa_error *err) {
    char path[PATH_MAX];
    if (!find_image(c->image_dirs, c->n_image_dirs, s->image_name, path, sizeof path)) {
        sa_error_set(perr, SA_ERR_NOT_FOUND, "image '%s' not found in %s%s", s->image_name,
                     c->image_dirs[0], c->n_image_dirs > 1 ? " (or the other image folders)" : "");
        return SKIP;
    }
    sa_image img = {0}, work = {0}, small = {0};
    sa_mask m = {0};
    char *prompt = NULL;
    int rc = SA_OK;
    if (sa_image_load(path, &img, perr) != SA_OK) return SKIP;
    if (img.width != s->width || img.height != s->height) {
        sa_error_set(perr, SA_ERR_RANGE, "%s: image is %dx%d but the trajectory says %dx%d", path,
                     img.width, img.height, s->width, s->height);
        rc = SKIP;
        goto done;
    }
    const char *desc = (s->n_captions > 0 && s->captions[0][0]) ? s->captions[0]
                       : c->p->default_caption                  ? c->p->default_caption
                                                                : "the object";
    if (!(prompt = sa_prompt_render(c->prompt, desc, perr))) {
        rc = SKIP;
        goto done;
    }
    if (sa_image_copy(&img, &work, perr) != SA_OK) {
        rc = SKIP;
        goto done;
    }
    char stem[64];
    safe_stem(s->image_name, stem, sizeof stem);
    for (int t = 0; t < s->n_steps; t++) {
        sa_mask_free(&m);
        if (sa_traj_state_mask(s, t, &m, perr) != SA_OK) {
            rc = SKIP;
            goto done;
        }
        if (sa_image_overlay(&img, m.data, c->p->style, &work, perr) != SA_OK) {
            rc = SKIP;
            goto done;
        }
        const sa_image *outimg = &work;
        if (c->p->size > 0) {
            sa_image_free(&small);
            if (sa_image_resize_bilinear(&work, c->p->size, c->p->size, &small, perr) != SA_OK) {
                rc = SKIP;
                goto done;
            }
            outimg = &small;
        }
        char rel[160], full[PATH_MAX], id[128];
        snprintf(id, sizeof id, "%06d_%s_t%02d", si, stem, t);
        snprintf(rel, sizeof rel, "images/%s.jpg", id);
        if (snprintf(full, sizeof full, "%s/%s", c->out_dir, rel) >= (int)sizeof full) {
            rc = sa_error_set(err, SA_ERR_INVALID, "%s: output path too long", c->out_dir);
            goto done;
        }
        if ((rc = sa_image_save_jpeg(full, outimg, c->p->jpeg_quality, err)) != SA_OK) goto done;
        double iou = NAN;
        if (c->p->with_iou) {
            iou = sa_traj_state_iou(s, t);
            if (!isfinite(iou)) iou = measure_iou(s, &m); /* a file without init_iou: measure it */
        }
        char target[SA_ACTION_TEXT_MAX];
        if (sa_action_format(&s->steps[t].click, &c->p->grammar, s->width, s->height, (float)iou,
                             target, sizeof target, perr) != SA_OK) {
            rc = SKIP;
            goto done;
        }
        char img_ref[PATH_MAX + 200];
        if (c->absolute)
            snprintf(img_ref, sizeof img_ref, "%s/%s", c->abs_out, rel);
        else
            snprintf(img_ref, sizeof img_ref, "%s", rel);
        cJSON *rec = make_record(c->p->format, id, img_ref, prompt, target);
        if (!rec) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "export: out of memory");
            goto done;
        }
        rc = out_add(&c->out, rec, err);
        cJSON_Delete(rec);
        if (rc != SA_OK) goto done;
        c->st->records++;
    }
done:
    free(prompt);
    sa_mask_free(&m);
    sa_image_free(&img);
    sa_image_free(&work);
    sa_image_free(&small);
    return rc;
}

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

static int cmp_file_id(const void *a, const void *b) {
    const file_id *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Before anything is written: none of the JPEGs the run will write (OUT/images/<id>.jpg) may be one of the
 * images it reads (an image folder inside OUT, an absolute image_name there). Returns SA_OK, or SA_ERR_INVALID
 * naming both files. */
static int check_outputs_are_not_inputs(const sa_traj_set *set, const char *const *dirs, int n_dirs,
                                        const char *out_dir, sa_error *err) {
    file_id *in = malloc(((size_t)set->n_samples + 1) * sizeof *in);
    if (!in) return sa_error_set(err, SA_ERR_NOMEM, "export: out of memory");
    size_t n = 0;
    char path[PATH_MAX], full[PATH_MAX];
    struct stat st;
    for (int i = 0; i < set->n_samples; i++)
        if (find_image(dirs, n_dirs, set->samples[i].image_name, path, sizeof path) &&
            stat(path, &st) == 0)
            in[n++] = (file_id){st.st_dev, st.st_ino};
    qsort(in, n, sizeof *in, cmp_file_id);
    int rc = SA_OK;
    for (int i = 0; i < set->n_samples && rc == SA_OK && n > 0; i++) {
        const sa_traj_sample *s = &set->samples[i];
        char stem[64];
        safe_stem(s->image_name, stem, sizeof stem);
        for (int t = 0; t < s->n_steps && rc == SA_OK; t++) {
            snprintf(full, sizeof full, "%s/images/%06d_%s_t%02d.jpg", out_dir, i, stem, t);
            if (stat(full, &st) != 0) continue;
            file_id key = {st.st_dev, st.st_ino};
            if (bsearch(&key, in, n, sizeof *in, cmp_file_id))
                rc = sa_error_set(
                    err, SA_ERR_INVALID,
                    "export: %s would overwrite one of the images read (sample %d writes it); nothing "
                    "exported (choose another output folder)",
                    full, i);
        }
    }
    free(in);
    return rc;
}

int sa_export_run(const sa_traj_set *set, const char *const *image_dirs, int n_image_dirs,
                  const char *out_dir, sa_export_params params, sa_export_report_fn report,
                  void *user, sa_export_stats *stats, sa_error *err) {
    const sa_export_params *p = &params;
    sa_export_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!set || !out_dir || n_image_dirs < 1 || !image_dirs)
        return sa_error_set(err, SA_ERR_INVALID,
                            "export: missing trajectories, image folder or output folder");
    for (int i = 0; i < n_image_dirs; i++)
        if (!image_dirs[i]) return sa_error_set(err, SA_ERR_INVALID, "export: NULL image folder");
    if ((unsigned)p->format > 3u)
        return sa_error_set(err, SA_ERR_INVALID, "export: unknown format");
    if (p->size < 0 || p->size > 8192)
        return sa_error_set(err, SA_ERR_INVALID, "export: size %d outside 0..8192", p->size);
    if (p->jpeg_quality < 1 || p->jpeg_quality > 100)
        return sa_error_set(err, SA_ERR_INVALID, "export: JPEG quality %d outside 1..100",
                            p->jpeg_quality);
    ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.image_dirs = image_dirs;
    c.n_image_dirs = n_image_dirs;
    c.out_dir = out_dir;
    c.st = stats;
    c.absolute = p->absolute_paths >= 0
                     ? p->absolute_paths != 0
                     : (p->format == SA_EXPORT_QWENVL || p->format == SA_EXPORT_SWIFT);
    const char *pname = p->prompt ? p->prompt : (p->format == SA_EXPORT_LLAVA ? "llava" : "qwen");
    int rc = check_outputs_are_not_inputs(set, image_dirs, n_image_dirs, out_dir, err);
    if (rc != SA_OK) return rc;
    rc = sa_prompt_load(pname, &c.prompt, err);
    if (rc != SA_OK) return rc;
    char imgdir[PATH_MAX];
    if (snprintf(imgdir, sizeof imgdir, "%s/images", out_dir) >= (int)sizeof imgdir) {
        rc = sa_error_set(err, SA_ERR_INVALID, "%s: path too long", out_dir);
        goto done;
    }
    if ((rc = sa_make_dirs(imgdir, err)) != SA_OK) goto done;
    if (!realpath(out_dir, c.abs_out)) {
        rc = sa_error_set(err, SA_ERR_IO, "%s: %s", out_dir, strerror(errno));
        goto done;
    }
    if ((rc = out_open(&c.out, out_dir, fmt_files[p->format], p->format == SA_EXPORT_SWIFT, err)) !=
        SA_OK)
        goto done;
    stats->samples = set->n_samples;
    for (int i = 0; i < set->n_samples; i++) {
        const sa_traj_sample *s = &set->samples[i];
        if (p->should_stop && p->should_stop(user)) {
            stats->stopped = 1;
            goto done; /* the records file is discarded */
        }
        if (s->n_steps == 0) {
            stats->samples_empty++;
            if (report) report(user, i, set->n_samples, NULL);
            continue;
        }
        sa_error perr = {0};
        rc = export_sample(&c, s, i, &perr, err);
        if (rc < 0) goto done;
        if (rc == SKIP) {
            stats->samples_skipped++;
            report_problem(report, user, i, set->n_samples, "sample %d (%s): %s", i, s->image_name,
                           perr.msg);
            rc = SA_OK;
        } else if (report) {
            report(user, i, set->n_samples, NULL);
        }
    }
    if (stats->records == 0 && stats->samples_skipped > 0)
        goto done; /* nothing exported: no file */
    rc = out_close(&c.out, err);
    if (rc == SA_OK && p->format == SA_EXPORT_LLAMAFACTORY) rc = write_dataset_info(out_dir, err);
done:
    if (c.out.f) out_abort(&c.out);
    sa_prompt_free(c.prompt);
    return rc;
}
