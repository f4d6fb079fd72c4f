/* Export of recorded trajectories as supervised fine-tuning data (docs/trajectories.md) for LLaVA, Qwen-VL,
 * LLaMA-Factory (sharegpt + images) and ms-swift (messages + images JSONL).
 *
 *   sa_traj_set *set = NULL;
 *   sa_traj_read("traj.json", &set, &err);
 *   sa_export_params p = sa_export_default_params(SA_EXPORT_QWENVL);
 *   sa_export_stats st;
 *   const char *dirs[] = {"/data/images"};
 *   sa_export_run(set, dirs, 1, "sft-out", p, report_cb, NULL, &st, &err);
 *
 * One record per trajectory step t (0 <= t < n_steps): the input is the image with the state M_t painted on
 * it (M_0 = the empty mask or the sample's init_mask; M_t = the mask after click t-1), written as a JPEG under
 * OUT/images/, plus the prompt rendered with the object description; the target is the text of click t in the
 * action grammar (action.h): "Positive point: (a, b)" / "Negative point: (a, b)", optionally preceded by
 * "Current IOU: <round(100 * IoU(M_t))>" and a newline (with_iou).
 *
 * Overlay: docs/grammar.md (floor(0.5*pixel + 0.5*color) on mask pixels, green by default), drawn at full
 * resolution, then (size > 0) resized to size x size with bilinear interpolation -- what the model's own
 * pre-processing does (Qwen-VL 448, LLaVA variant 512); size 0 keeps the original resolution. Coordinates in
 * the text are relative, so they do not depend on the size.
 *
 * Files written in OUT (image paths in records: relative to OUT, or absolute, see absolute_paths):
 *   llava         llava.json: [{"id", "image", "conversations": [{"from":"human","value":"<image>\n<prompt>"},
 *                                                             {"from":"gpt","value":"<target>"}]}]
 *                 (train with --image_folder OUT)
 *   qwen-vl       qwen_vl.json: [{"id", "conversations": [{"from":"user",
 *                               "value":"Picture 1: <img>PATH</img>\n<prompt>"}, {"from":"assistant", ...}]}]
 *                 (the Qwen-VL finetune layout; paths absolute by default since it opens them as given)
 *   llamafactory  segagent_sharegpt.json: [{"messages":[{"role":"user","content":"<image><prompt>"},
 *                                            {"role":"assistant","content":"<target>"}], "images":[PATH]}]
 *                 and dataset_info.json registering it as "segagent" (sharegpt formatting, role/content tags);
 *                 point LLaMA-Factory's dataset_dir (and media_dir) at OUT.
 *   swift         segagent_swift.jsonl: one {"messages":[...same...], "images":[PATH]} per line (absolute paths)
 * Every file is valid UTF-8: bytes of a name, caption or prompt that are not are written as U+FFFD.
 * The "<image>" placeholder is followed directly by the prompt for LLaMA-Factory and ms-swift: their templates
 * insert the model's own image framing there (for Qwen-VL, "Picture 1: <img>..</img>\n").
 *
 * Images are found as DIR/<image_name> for each of the image folders in turn (several when one file holds
 * several datasets); a name without an extension is also tried with .jpg, .png, .jpeg and .bmp, and a purely
 * numeric name (the released RefCOCO files store COCO image ids) as COCO_train2014_<12-digit id>.jpg. An
 * absolute image_name that exists is used as is. A sample whose image is missing, unreadable or of a size different from
 * the sample's height x width is reported through the callback and skipped; the run goes on.
 */
#ifndef SEGAGENT_EXPORT_H
#define SEGAGENT_EXPORT_H

#include "segagent/grammar.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/trajectory.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_export_format {
    SA_EXPORT_LLAVA = 0,
    SA_EXPORT_QWENVL = 1,
    SA_EXPORT_LLAMAFACTORY = 2,
    SA_EXPORT_SWIFT = 3
} sa_export_format;

/* "llava" / "qwen-vl" / "llamafactory" / "swift" <-> enum (also accepts "qwenvl", "llama-factory", "ms-swift"). */
int sa_export_format_from_name(const char *name, sa_export_format *out, sa_error *err);
const char *sa_export_format_name(sa_export_format f);

typedef struct sa_export_params {
    sa_export_format format;
    int size;           /* square side of the exported images; 0 = original size */
    int with_iou;       /* prefix targets with "Current IOU: v" (process-reward data) */
    const char *prompt; /* "qwen", "llava" or a template file (prompt.h); NULL = format default */
    sa_grammar grammar; /* coordinate style and axis order of the targets */
    sa_overlay_style style; /* mask colour and weight */
    int jpeg_quality;       /* 1..100 */
    const char
        *default_caption; /* description for samples without a caption; NULL = "the object" */
    int absolute_paths;   /* 1 absolute, 0 relative to OUT, -1 = format default */
    /* Optional: polled (with the report's user) before each sample; non-zero stops the run (Ctrl-C). */
    int (*should_stop)(void *user);
    int reserved[4];
} sa_export_params;

/* Per-format defaults: llava -> prompt "llava", size 512, float1 coordinates; qwen-vl, llamafactory, swift ->
 * prompt "qwen", size 448, int1000. All: (y, x) order, green at 50%, JPEG quality 75, no IoU prefix. */
sa_export_params sa_export_default_params(sa_export_format f);

typedef struct sa_export_stats {
    long samples;         /* samples in the set */
    long samples_skipped; /* samples reported and skipped (missing image, size mismatch, ...) */
    long samples_empty;   /* samples with no recorded click (nothing to learn from) */
    long records;         /* supervised records written (= images written) */
    int stopped;          /* 1 when should_stop ended the run */
} sa_export_stats;

/* Called once per sample: problem is NULL when the sample was exported, else one line naming the image and
 * the problem (the sample was skipped). index is 0-based, of n samples. */
typedef void (*sa_export_report_fn)(void *user, int index, int n, const char *problem);

/* Creates OUT and OUT/images as needed, writes every record and the format's files. report may be NULL.
 * Returns SA_OK when the files were written (even if some samples were skipped; see stats), or an error for
 * bad parameters, an unloadable prompt, or output that cannot be written; SA_ERR_INVALID before anything is
 * written when one of the JPEGs to write is one of the images to read (an image folder inside OUT). The
 * records file is written under a temporary name and renamed into place only when complete; it is not written
 * at all (whatever OUT held under that name stays) when the run fails, is stopped (stats->stopped; SA_OK), or
 * when every sample with clicks was skipped (stats->records 0; SA_OK). The JPEGs already written stay in
 * OUT/images. */
int sa_export_run(const sa_traj_set *set, const char *const *image_dirs, int n_image_dirs,
                  const char *out_dir, sa_export_params p, sa_export_report_fn report, void *user,
                  sa_export_stats *stats, sa_error *err);

/* Path of the main file the format writes, relative to OUT ("llava.json", ...). */
const char *sa_export_file_name(sa_export_format f);

#ifdef __cplusplus
}
#endif
#endif
