/* PLACEHOLDER: replaced by the module's owner. */
#include <stdio.h>

#include "cli.h"

int cli_demo(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "%s: not built yet\n", argv[0]);
    return 1;
}
