/* A runner worker's environment and policy (see episode_worker.h). */
#include "workloads/episode_worker.h"

#include <stdlib.h>

int sa__episode_worker_new(sa_tool *tool, sa_env_params env_params, sa_policy_new_fn policy_new,
                           void *policy_ctx, sa__episode_worker **out, sa_error *err) {
    *out = NULL;
    sa__episode_worker *w = calloc(1, sizeof *w);
    if (!w) return sa_error_set(err, SA_ERR_NOMEM, "worker: out of memory");
    int rc = sa_env_new(tool, env_params, &w->env, err);
    if (rc == SA_OK)
        rc = policy_new ? policy_new(policy_ctx, &w->policy, err)
                        : sa_clicker_policy_new(&w->policy, err);
    if (rc != SA_OK) {
        sa__episode_worker_free(w);
        return rc;
    }
    *out = w;
    return SA_OK;
}

void sa__episode_worker_free(sa__episode_worker *w) {
    if (!w) return;
    sa_policy_free(w->policy);
    sa_env_free(w->env);
    free(w);
}
