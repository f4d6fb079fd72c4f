/* The CLI's check that outputs never destroy inputs (see cli_paths.h). Inputs are kept by device
 * and inode; outputs by the same when they exist, and by their resolved path for the
 * output-vs-output check. Everything is checked before the command does any work, so a refusal
 * leaves the disk as it was. */
#include "cli_paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "segagent/fileio.h"

void cli_io_init(cli_io *io, const char *cmd) {
    memset(io, 0, sizeof *io);
    io->cmd = cmd;
}

static void free_files(cli_io_file *f, int n) {
    for (int i = 0; i < n; i++) {
        free(f[i].label);
        free(f[i].path);
        free(f[i].key);
    }
    free(f);
}

void cli_io_free(cli_io *io) {
    free_files(io->in, io->n_in);
    free_files(io->out, io->n_out);
    memset(io, 0, sizeof *io);
}

/* Appends a zeroed entry with copies of label and path; NULL when out of memory. */
static cli_io_file *push(cli_io_file **v, int *n, int *cap, const char *label, const char *path) {
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        cli_io_file *nv = realloc(*v, (size_t)nc * sizeof *nv);
        if (!nv) return NULL;
        *v = nv;
        *cap = nc;
    }
    cli_io_file *f = &(*v)[*n];
    memset(f, 0, sizeof *f);
    f->label = strdup(label);
    f->path = strdup(path);
    if (!f->label || !f->path) {
        free(f->label);
        free(f->path);
        return NULL;
    }
    (*n)++;
    return f;
}

void cli_io_input(cli_io *io, const char *label, const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return;
    cli_io_file *f = push(&io->in, &io->n_in, &io->cap_in, label, path);
    if (!f) return;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
}

void cli_io_dataset(cli_io *io, const sa_dataset *ds) {
    char img[160], msk[160];
    snprintf(img, sizeof img, "(an image of dataset %s)", sa_dataset_name(ds));
    snprintf(msk, sizeof msk, "(a mask of dataset %s)", sa_dataset_name(ds));
    for (int i = 0; i < sa_dataset_count(ds); i++) {
        cli_io_input(io, img, sa_dataset_image_path(ds, i));
        cli_io_input(io, msk, sa_dataset_mask_path(ds, i));
    }
}

/* The resolved path of a file that may not exist yet: realpath of the file, else of its folder plus
 * its name, else the path as given. malloc'd, NULL when out of memory. */
static char *resolved(const char *path) {
    char buf[PATH_MAX];
    if (realpath(path, buf)) return strdup(buf);
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    const char *name = slash ? slash + 1 : path;
    if (*name && strcmp(name, ".") && strcmp(name, "..") && realpath(dir, buf))
        return sa_path_join(buf, name);
    return strdup(path);
}

/* The input that is the same file as path (which exists with stat st), or NULL. */
static const cli_io_file *same_input(const cli_io *io, const struct stat *st) {
    for (int i = 0; i < io->n_in; i++)
        if (io->in[i].dev == st->st_dev && io->in[i].ino == st->st_ino) return &io->in[i];
    return NULL;
}

/* Refuses path when it exists and is an input. */
static int check_against_inputs(cli_io *io, const char *label, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    const cli_io_file *in = same_input(io, &st);
    if (!in) return 0;
    cli_printf(
        stderr,
        "%s: the output %s (%s) is the input %s %s; nothing was done (choose another output)\n",
        io->cmd, path, label, in->label, in->path);
    return 1;
}

int cli_io_output(cli_io *io, const char *label, const char *path) {
    if (!path) return 0;
    if (check_against_inputs(io, label, path)) return 1;
    char *key = resolved(path);
    for (int i = 0; key && i < io->n_out; i++)
        if (!strcmp(io->out[i].key, key)) {
            cli_printf(stderr, "%s: %s %s and %s %s are the same file; give two different paths\n",
                       io->cmd, io->out[i].label, io->out[i].path, label, path);
            free(key);
            return 1;
        }
    cli_io_file *f = key ? push(&io->out, &io->n_out, &io->cap_out, label, path) : NULL;
    if (!f) {
        free(key);
        return 0; /* out of memory: the check is best effort, the write itself will fail */
    }
    f->key = key;
    return 0;
}

int cli_io_output_in(cli_io *io, const char *label, const char *dir, const char *name) {
    char *p = sa_path_join(dir, name);
    if (!p) return 0;
    char lab[256];
    snprintf(lab, sizeof lab, "%s %s", label, dir);
    int rc = cli_io_output(io, lab, p);
    free(p);
    return rc;
}

int cli_io_outputs_in(cli_io *io, const char *label, const char *dir, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (cli_io_output_in(io, label, dir, names[i])) return 1;
    return 0;
}

int cli_io_output_steps(cli_io *io, const char *label, const char *dir) {
    char lab[256];
    snprintf(lab, sizeof lab, "a step overlay of %s %s", label, dir);
    for (int i = 0; i <= CLI_MAX_STEP_FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "step_%02d.png", i);
        char *p = sa_path_join(dir, name);
        int rc = p ? check_against_inputs(io, lab, p) : 0;
        free(p);
        if (rc) return 1;
    }
    return 0;
}

int cli_io_output_dir(cli_io *io, const char *label, const char *dir) {
    return dir ? check_against_inputs(io, label, dir) : 0;
}
