/* Internal: one trajectory sample as the JSON object the writer puts in "data" (segagent/trajectory.h).
 * The part files of a sharded trajectory run (workloads/record.c) hold each item's samples in exactly this
 * form, so merging them gives the bytes an unsharded run writes. */
#ifndef SEGAGENT_DATA_TRAJECTORY_JSON_H
#define SEGAGENT_DATA_TRAJECTORY_JSON_H

#include <cjson/cJSON.h>

#include "segagent/trajectory.h"

/* The sample's JSON object (cJSON_Delete it), or NULL when out of memory. */
cJSON *sa__traj_sample_json(const sa_traj_sample *s);

#endif
