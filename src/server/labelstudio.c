/* Label Studio's ML backend protocol (placeholder until the protocol lands). */
#include "server/server_internal.h"

enum MHD_Result sa__ls_setup(sa__req *r) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "model_version", "segagent");
    return sa__reply_json(r, 200, o);
}

enum MHD_Result sa__ls_predict(sa__req *r) {
    return sa__reply_error(r, 501, "not implemented yet");
}

enum MHD_Result sa__ls_webhook(sa__req *r) {
    return sa__reply_json(r, 200, cJSON_CreateObject());
}
