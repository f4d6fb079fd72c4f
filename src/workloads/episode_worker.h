/* Internal: what one dataset-runner worker needs to run episodes -- its own environment on the shared tool and
 * its own policy (from a factory, or the simulated annotator). Shared by evaluation and trajectory recording
 * so every workload sets workers up the same way. */
#ifndef SEGAGENT_WORKLOADS_EPISODE_WORKER_H
#define SEGAGENT_WORKLOADS_EPISODE_WORKER_H

#include "segagent/env.h"
#include "segagent/policy.h"

typedef struct sa__episode_worker {
    sa_env *env;
    sa_policy *policy;
} sa__episode_worker;

/* policy_new NULL = the simulated annotator. Returns SA_OK with *out set, or the error (nothing allocated). */
int sa__episode_worker_new(sa_tool *tool, sa_env_params env_params, sa_policy_new_fn policy_new,
                           void *policy_ctx, sa__episode_worker **out, sa_error *err);
void sa__episode_worker_free(sa__episode_worker *w);

#endif
