/* segagent refine: segment, starting from an existing mask (see cli_segment.c). */
#include "cli.h"
#include "cli_llm.h"

int cli_refine(int argc, char **argv) {
    return cli_agent_command(argc, argv, 1);
}
