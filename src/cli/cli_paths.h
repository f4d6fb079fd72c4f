/* Internal to the CLI: a run's inputs and outputs, checked before any work so that an output never
 * destroys an input of the same run and two outputs never share a path.
 *
 *   cli_io io;
 *   cli_io_init(&io, "annotate");
 *   cli_io_input(&io, "--image", o->image_path);
 *   cli_io_input(&io, "--gt", o->gt_path);
 *   int bad = cli_io_output_in(&io, "--out", o->out_dir, "mask.png") ||
 *             cli_io_output_steps(&io, "--out", o->out_dir);   // also the stale step_NN.png it
 * deletes cli_io_free(&io); if (bad) return 1;                                          // one line
 * printed, nothing done
 *
 * Files are compared by device and inode (so a symlink or hard link to an input is caught too); an
 * output that does not exist yet cannot be an input, but it is compared with the other outputs by
 * its resolved path (realpath of its folder + its name). */
#ifndef SEGAGENT_CLI_PATHS_H
#define SEGAGENT_CLI_PATHS_H

#include <sys/types.h>

#include "segagent/dataset.h"

typedef struct cli_io_file {
    char *label; /* "--gt", "PHOTO", "an image of dataset X" */
    char *path;
    char *key; /* outputs: resolved path */
    dev_t dev;
    ino_t ino;
} cli_io_file;

typedef struct cli_io {
    const char *cmd;
    cli_io_file *in, *out;
    int n_in, cap_in, n_out, cap_out;
} cli_io;

void cli_io_init(cli_io *io, const char *cmd);
void cli_io_free(cli_io *io);

/* A file the run reads (path may be NULL: ignored; a path that does not exist is ignored too, its
 * loader reports it). Folders may be given; they match only an output that is the folder itself. */
void cli_io_input(cli_io *io, const char *label, const char *path);
/* Every image and mask file of a dataset. */
void cli_io_dataset(cli_io *io, const sa_dataset *ds);

/* A file the run writes (or replaces). Returns 0, or 1 after printing one line naming the output
 * and the input (or the other output) it collides with. path NULL: 0. */
int cli_io_output(cli_io *io, const char *label, const char *path);
/* The same for DIR/NAME. */
int cli_io_output_in(cli_io *io, const char *label, const char *dir, const char *name);
/* The same for DIR/NAME for each name of a NULL-terminated list. */
int cli_io_outputs_in(cli_io *io, const char *label, const char *dir, const char *const *names);
/* The files DIR/step_NN.png (NN = 00..1024) that cli_remove_stale_steps deletes and the overlays
 * replace: none of them may be an input. Not compared with the other outputs (distinct by name). */
int cli_io_output_steps(cli_io *io, const char *label, const char *dir);
/* An output folder: it must not be an input folder (a run writing new files into the folder it
 * reads from). Returns 0 or 1 (message printed); a folder that does not exist yet is fine. */
int cli_io_output_dir(cli_io *io, const char *label, const char *dir);

#endif
