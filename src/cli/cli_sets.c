/* Opening a command's --dataset specs into sample sets (cli_sets.h). */
#include "cli_sets.h"

#include <stdio.h>
#include <string.h>

#include "cli_term.h"

void cli_sets_free(cli_sets *s) {
    for (int i = 0; i < s->n; i++) {
        sa_dataset_free(s->ds[i]);
        sa_refer_free(s->rf[i]);
    }
    s->n = 0;
}

/* A referring spec first; a spec of no referring kind is an interactive folder NAME=DIR (or DIR). */
static int open_one(const char *cmd, const cli_sets_opts *o, const char *spec, cli_sets *s) {
    int k = s->n;
    sa_error err = {0};
    sa_refer_params rp = sa_refer_default_params();
    rp.per_ref = o->per_ref;
    rp.split_by = o->split_by;
    rp.captions = o->captions;
    int rc = sa_refer_open_spec(spec, o->images, rp, &s->rf[k], &err);
    if (rc == SA_OK) {
        const char *split = sa_refer_split(s->rf[k]);
        if (strcmp(split, "all"))
            snprintf(s->label[k], sizeof s->label[k], "%.60s:%.60s", sa_refer_name(s->rf[k]),
                     split);
        else
            snprintf(s->label[k], sizeof s->label[k], "%.120s", sa_refer_name(s->rf[k]));
        for (int w = 0; w < sa_refer_n_warnings(s->rf[k]); w++)
            cli_printf(stderr, "warning: %s\n", sa_refer_warning(s->rf[k], w));
        s->set[k] = (sa_sample_set){.label = s->label[k], .refer = s->rf[k]};
        s->n++;
        return 0;
    }
    if (rc != SA_ERR_INVALID) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    const char *eq = strchr(spec, '='), *dir = eq ? eq + 1 : spec;
    if (eq) snprintf(s->label[k], sizeof s->label[k], "%.*s", (int)(eq - spec), spec);
    if (sa_dataset_open(eq ? s->label[k] : NULL, dir, sa_dataset_default_params(), &s->ds[k],
                        &err)) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    snprintf(s->label[k], sizeof s->label[k], "%.120s", sa_dataset_name(s->ds[k]));
    for (int w = 0; w < sa_dataset_n_warnings(s->ds[k]); w++)
        cli_printf(stderr, "warning: %s\n", sa_dataset_warning(s->ds[k], w));
    s->set[k] = (sa_sample_set){.label = s->label[k], .dataset = s->ds[k]};
    s->n++;
    return 0;
}

int cli_sets_open(const char *cmd, const cli_sets_opts *o, const cli_multi *specs, cli_sets *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < specs->n && i < CLI_MAX_MULTI; i++)
        if (open_one(cmd, o, specs->v[i], s)) return 1;
    return 0;
}

void cli_sets_inputs(cli_io *io, const cli_sets *s, const cli_multi *specs) {
    for (int i = 0; i < s->n; i++)
        if (s->ds[i]) cli_io_dataset(io, s->ds[i]);
    for (int i = 0; i < specs->n; i++) {
        const char *eq = strchr(specs->v[i], '=');
        if (eq) cli_io_input(io, "--dataset", eq + 1);
    }
}
