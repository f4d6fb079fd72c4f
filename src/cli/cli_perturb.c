/* segagent perturb (placeholder while the library part is written). */
#include "cli.h"

int cli_perturb(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return 2;
}
