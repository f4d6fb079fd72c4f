/* .pth reader (torch.save zip + pickled state_dict): work in progress. */
#include "weights_impl.h"

int sa__pth_parse(sa_weights *w, const uint8_t *buf, size_t n, const char *what, sa_error *err) {
    (void)w;
    (void)buf;
    (void)n;
    return sa_error_set(err, SA_ERR_UNSUPPORTED, "%s: .pth files are not supported yet", what);
}
