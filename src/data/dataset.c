/* Datasets: find the image folder and the mask folder of a benchmark directory, pair files by stem, and load
 * one pair on demand.
 *
 * The scan only reads directory entries, so opening a large dataset is cheap and a broken file costs one
 * warning (at scan time: no partner, not an image, duplicate stem) or one skipped item (at load time: corrupt,
 * size mismatch, empty ground truth) instead of the whole run. Items are kept sorted by stem so every run,
 * on any file system, visits them in the same order.
 */
#include "segagent/dataset.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "base/util.h"

typedef struct ds_item {
    char *name;
    char *image;
    char *mask;
} ds_item;

struct sa_dataset {
    char *name;
    char *dir;
    const char *layout;
    int ignore_value;
    ds_item *items;
    int n_items, cap_items;
    char **warnings;
    int n_warnings, cap_warnings;
};

/* One file of a folder listing: its name, and the stem (name without the last extension). */
typedef struct ds_file {
    char *file;
    char *stem;
} ds_file;

typedef struct ds_list {
    ds_file *v;
    int n, cap;
} ds_list;

static const char *const image_dirs[] = {"images", "img", "im", "jpegimages", "imgs", "image"};
static const char *const mask_dirs[] = {
    "masks", "gt", "annotations", "mask", "gts", "segmentationobject", "groundtruth"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

sa_dataset_params sa_dataset_default_params(void) {
    sa_dataset_params p;
    memset(&p, 0, sizeof p);
    p.ignore_value = SA_DATASET_IGNORE_AUTO;
    return p;
}

static char *join_path(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    char *p = malloc(na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int grow(void **v, int *cap, int n, size_t elem) {
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 16;
    if (nc <= *cap || (size_t)nc > SIZE_MAX / elem) return -1;
    void *nv = realloc(*v, (size_t)nc * elem);
    if (!nv) return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

static int add_warning(sa_dataset *ds, sa_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int add_warning(sa_dataset *ds, sa_error *err, const char *fmt, ...) {
    char buf[SA_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (grow((void **)&ds->warnings, &ds->cap_warnings, ds->n_warnings, sizeof(char *)) != 0)
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", ds->dir);
    char *w = sa__strdup(buf);
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", ds->dir);
    ds->warnings[ds->n_warnings++] = w;
    return SA_OK;
}

static void list_free(ds_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].file);
        free(l->v[i].stem);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".bmp"};
    for (int i = 0; i < N_OF(exts); i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

static int cmp_file(const void *a, const void *b) {
    const ds_file *x = a, *y = b;
    int c = strcmp(x->stem, y->stem);
    return c ? c : strcmp(x->file, y->file);
}

/* Lists the image files of folder (sorted by stem), reporting other entries and duplicate stems. */
static int list_folder(sa_dataset *ds, const char *folder, ds_list *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(folder);
    if (!d) return sa_error_set(err, SA_ERR_IO, "%s: cannot read folder", folder);
    int rc = SA_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (n[0] == '.') continue; /* ., .., hidden files */
        char *full = join_path(folder, n);
        if (!full) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", folder);
            break;
        }
        struct stat st;
        int st_ok = stat(full, &st) == 0;
        if (!st_ok || !S_ISREG(st.st_mode) || !has_image_ext(n)) {
            const char *why = !st_ok                ? "cannot be read"
                              : S_ISDIR(st.st_mode) ? "is a folder (sub-folders are not searched)"
                              : !S_ISREG(st.st_mode)
                                  ? "is not a regular file"
                                  : "is not an image file (expected .png, .jpg, .jpeg or .bmp)";
            rc = add_warning(ds, err, "%s: %s, skipped", full, why);
            free(full);
            if (rc != SA_OK) break;
            continue;
        }
        free(full);
        if (grow((void **)&out->v, &out->cap, out->n, sizeof(ds_file)) != 0) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", folder);
            break;
        }
        ds_file *f = &out->v[out->n];
        f->file = sa__strdup(n);
        f->stem = sa__strdup(n);
        if (!f->file || !f->stem) {
            free(f->file);
            free(f->stem);
            rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", folder);
            break;
        }
        char *dot = strrchr(f->stem, '.');
        if (dot && dot != f->stem) *dot = '\0';
        out->n++;
    }
    closedir(d);
    if (rc != SA_OK) {
        list_free(out);
        return rc;
    }
    qsort(out->v, (size_t)out->n, sizeof(ds_file), cmp_file);
    /* Duplicate stems (a.jpg and a.png): keep the first in byte order, report the others. */
    int w = 0;
    for (int i = 0; i < out->n; i++) {
        if (w > 0 && !strcmp(out->v[w - 1].stem, out->v[i].stem)) {
            rc = add_warning(ds, err, "%s/%s: another file with stem '%s' (%s) is used, skipped",
                             folder, out->v[i].file, out->v[i].stem, out->v[w - 1].file);
            free(out->v[i].file);
            free(out->v[i].stem);
            if (rc != SA_OK) {
                for (int j = i + 1; j < out->n; j++) { /* entries past i are still owned */
                    free(out->v[j].file);
                    free(out->v[j].stem);
                }
                out->n = w; /* list_free frees the kept ones */
                list_free(out);
                return rc;
            }
            continue;
        }
        out->v[w++] = out->v[i];
    }
    out->n = w;
    return SA_OK;
}

/* Finds a sub-folder of dir whose name matches one of names (case-insensitive), in the order of names. */
static char *find_subdir(const char *dir, const char *const *names, int n_names) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *best = NULL;
    int best_rank = n_names;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        for (int i = 0; i < best_rank; i++) {
            if (strcasecmp(e->d_name, names[i]) != 0) continue;
            char *full = join_path(dir, e->d_name);
            if (full && is_dir(full)) {
                free(best);
                best = full;
                best_rank = i;
            } else {
                free(full);
            }
            break;
        }
    }
    closedir(d);
    return best;
}

static int add_item(sa_dataset *ds, const char *img_dir, const ds_file *im, const char *mask_dir,
                    const ds_file *mk, sa_error *err) {
    if (grow((void **)&ds->items, &ds->cap_items, ds->n_items, sizeof(ds_item)) != 0)
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", ds->dir);
    ds_item *it = &ds->items[ds->n_items];
    it->name = sa__strdup(im->stem);
    it->image = join_path(img_dir, im->file);
    it->mask = join_path(mask_dir, mk->file);
    if (!it->name || !it->image || !it->mask) {
        free(it->name);
        free(it->image);
        free(it->mask);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory listing files", ds->dir);
    }
    ds->n_items++;
    return SA_OK;
}

static int pair_up(sa_dataset *ds, const char *img_dir, const char *mask_dir, sa_error *err) {
    ds_list im, mk;
    int rc = list_folder(ds, img_dir, &im, err);
    if (rc != SA_OK) return rc;
    rc = list_folder(ds, mask_dir, &mk, err);
    if (rc != SA_OK) {
        list_free(&im);
        return rc;
    }
    int i = 0, j = 0;
    while (rc == SA_OK && (i < im.n || j < mk.n)) {
        int c = i >= im.n ? 1 : j >= mk.n ? -1 : strcmp(im.v[i].stem, mk.v[j].stem);
        if (c == 0) {
            rc = add_item(ds, img_dir, &im.v[i], mask_dir, &mk.v[j], err);
            i++, j++;
        } else if (c < 0) {
            rc = add_warning(ds, err, "%s/%s: no mask named '%s.*' in %s, skipped", img_dir,
                             im.v[i].file, im.v[i].stem, mask_dir);
            i++;
        } else {
            rc = add_warning(ds, err, "%s/%s: no image named '%s.*' in %s, skipped", mask_dir,
                             mk.v[j].file, mk.v[j].stem, img_dir);
            j++;
        }
    }
    list_free(&im);
    list_free(&mk);
    if (rc == SA_OK && ds->n_items == 0)
        rc = sa_error_set(err, SA_ERR_NOT_FOUND,
                          "%s: no image/mask pairs (images in %s, masks in %s, paired by "
                          "file name without extension)",
                          ds->dir, img_dir, mask_dir);
    return rc;
}

int sa_dataset_open(const char *name, const char *dir, sa_dataset_params params, sa_dataset **out,
                    sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_dataset_open: NULL output");
    *out = NULL;
    if (!dir || !*dir) return sa_error_set(err, SA_ERR_INVALID, "dataset folder not given");
    if (params.ignore_value < SA_DATASET_IGNORE_AUTO || params.ignore_value > 255)
        return sa_error_set(err, SA_ERR_RANGE, "%s: ignore value %d out of range (0..255)", dir,
                            params.ignore_value);
    if (!is_dir(dir)) return sa_error_set(err, SA_ERR_IO, "%s: not a readable folder", dir);
    sa_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    ds->dir = sa__strdup(dir);
    if (name && *name) {
        ds->name = sa__strdup(name);
    } else {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        size_t s = n;
        while (s > 0 && dir[s - 1] != '/')
            s--;
        ds->name = malloc(n - s + 1);
        if (ds->name) {
            memcpy(ds->name, dir + s, n - s);
            ds->name[n - s] = '\0';
        }
    }
    if (!ds->dir || !ds->name) {
        sa_dataset_free(ds);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    }
    int rc;
    static const char *const gc_img[] = {"data_gt"};
    static const char *const gc_mask[] = {"boundary_gt"};
    char *img_dir = find_subdir(dir, gc_img, 1);
    char *mask_dir = img_dir ? find_subdir(dir, gc_mask, 1) : NULL;
    int auto_ignore = SA_DATASET_IGNORE_NONE;
    if (img_dir && mask_dir) {
        ds->layout = "grabcut";
        auto_ignore = 128;
    } else {
        free(img_dir);
        free(mask_dir);
        img_dir = find_subdir(dir, image_dirs, N_OF(image_dirs));
        mask_dir = find_subdir(dir, mask_dirs, N_OF(mask_dirs));
        ds->layout = "generic";
    }
    ds->ignore_value =
        params.ignore_value == SA_DATASET_IGNORE_AUTO ? auto_ignore : params.ignore_value;
    if (!img_dir || !mask_dir) {
        rc = sa_error_set(
            err, SA_ERR_NOT_FOUND,
            "%s: no %s folder found (expected data_GT + boundary_GT, or an image folder named "
            "images, img, im or JPEGImages beside a mask folder named masks, gt, GT or "
            "annotations)",
            dir, img_dir ? "mask" : "image");
    } else {
        rc = pair_up(ds, img_dir, mask_dir, err);
    }
    free(img_dir);
    free(mask_dir);
    if (rc != SA_OK) {
        sa_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return SA_OK;
}

void sa_dataset_free(sa_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_items; i++) {
        free(ds->items[i].name);
        free(ds->items[i].image);
        free(ds->items[i].mask);
    }
    free(ds->items);
    for (int i = 0; i < ds->n_warnings; i++)
        free(ds->warnings[i]);
    free(ds->warnings);
    free(ds->name);
    free(ds->dir);
    free(ds);
}

const char *sa_dataset_name(const sa_dataset *ds) {
    return ds ? ds->name : "";
}
const char *sa_dataset_dir(const sa_dataset *ds) {
    return ds ? ds->dir : "";
}
const char *sa_dataset_layout(const sa_dataset *ds) {
    return ds ? ds->layout : "";
}
int sa_dataset_ignore_value(const sa_dataset *ds) {
    return ds ? ds->ignore_value : SA_DATASET_IGNORE_NONE;
}
int sa_dataset_count(const sa_dataset *ds) {
    return ds ? ds->n_items : 0;
}
int sa_dataset_n_warnings(const sa_dataset *ds) {
    return ds ? ds->n_warnings : 0;
}

const char *sa_dataset_warning(const sa_dataset *ds, int i) {
    return ds && i >= 0 && i < ds->n_warnings ? ds->warnings[i] : NULL;
}
const char *sa_dataset_item_name(const sa_dataset *ds, int i) {
    return ds && i >= 0 && i < ds->n_items ? ds->items[i].name : NULL;
}
const char *sa_dataset_image_path(const sa_dataset *ds, int i) {
    return ds && i >= 0 && i < ds->n_items ? ds->items[i].image : NULL;
}
const char *sa_dataset_mask_path(const sa_dataset *ds, int i) {
    return ds && i >= 0 && i < ds->n_items ? ds->items[i].mask : NULL;
}

int sa_dataset_load(const sa_dataset *ds, int i, sa_image *img, sa_mask *gt, sa_mask *ignore,
                    sa_error *err) {
    if (!ds || !img || !gt)
        return sa_error_set(err, SA_ERR_INVALID, "sa_dataset_load: NULL argument");
    memset(img, 0, sizeof *img);
    memset(gt, 0, sizeof *gt);
    if (ignore) memset(ignore, 0, sizeof *ignore);
    if (i < 0 || i >= ds->n_items)
        return sa_error_set(err, SA_ERR_RANGE, "%s: item %d out of range (%d items)", ds->name, i,
                            ds->n_items);
    const ds_item *it = &ds->items[i];
    sa_mask ign = {0};
    int rc = sa_image_load(it->image, img, err);
    if (rc != SA_OK) return rc;
    rc = sa_mask_load(it->mask, ds->ignore_value, gt, &ign, err);
    if (rc != SA_OK) goto fail;
    if (gt->width != img->width || gt->height != img->height) {
        rc = sa_error_set(err, SA_ERR_RANGE, "%s: mask is %dx%d but its image %s is %dx%d",
                          it->mask, gt->width, gt->height, it->image, img->width, img->height);
        goto fail;
    }
    if (ign.data && sa_mask_area(&ign) == 0) sa_mask_free(&ign);
    size_t area = 0;
    size_t n = (size_t)gt->width * (size_t)gt->height;
    for (size_t k = 0; k < n; k++)
        area += gt->data[k] && !(ign.data && ign.data[k]);
    if (area == 0) {
        rc =
            sa_error_set(err, SA_ERR_FORMAT, "%s: empty ground truth (no object pixels)", it->mask);
        goto fail;
    }
    if (ignore)
        *ignore = ign;
    else
        sa_mask_free(&ign);
    return SA_OK;
fail:
    sa_image_free(img);
    sa_mask_free(gt);
    sa_mask_free(&ign);
    return rc;
}
