/* Whole-file reading with a size limit, writing through a temporary file renamed into place (internal
 * sa__out, public sa_file_write*), path joining and mkdir -p. */
#include "base/files.h"
#include "base/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

int sa__read_file(const char *path, size_t max_bytes, char **data, size_t *len, sa_error *err) {
    if (!data) return sa_error_set(err, SA_ERR_INVALID, "read file: NULL output");
    *data = NULL;
    if (len) *len = 0;
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "read file: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    size_t cap = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
            fclose(f);
            return sa_error_set(err, SA_ERR_RANGE, "%s: %lld bytes, more than the %zu accepted",
                                path, (long long)st.st_size, max_bytes);
        }
        cap = (size_t)st.st_size;
    }
    if (cap < 4096) cap = 4096;
    if (cap > max_bytes) cap = max_bytes;
    char *buf = malloc(cap + 1);
    size_t n = 0;
    int rc = buf ? SA_OK : sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    while (rc == SA_OK) {
        if (n == cap) {
            if (cap >= max_bytes) {
                /* at the limit: one more byte means the file is too large */
                int c = fgetc(f);
                if (c == EOF) break;
                rc = sa_error_set(err, SA_ERR_RANGE, "%s: more than the %zu bytes accepted", path,
                                  max_bytes);
                break;
            }
            size_t nc = cap > max_bytes / 2 ? max_bytes : cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                rc = sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(errno ? errno : EIO));
            break;
        }
    }
    fclose(f);
    if (rc != SA_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return SA_OK;
}

int sa__out_open(sa__out *o, const char *path, sa_error *err) {
    if (!o) return sa_error_set(err, SA_ERR_INVALID, "open output: NULL argument");
    memset(o, 0, sizeof *o);
    if (!path || !*path) return sa_error_set(err, SA_ERR_INVALID, "open output: empty path");
    size_t n = strlen(path) + 48;
    o->path = sa__strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        sa__out_abort(o);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = -1, e = 0;
    for (unsigned k = 0; k < 100 && fd < 0; k++) {
        snprintf(o->tmp, n, "%s.part-%ld-%u", path, (long)getpid(), k);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = errno;
        if (fd < 0 && e != EEXIST) break;
    }
    if (fd < 0) {
        free(o->tmp);
        o->tmp = NULL;
        sa__out_abort(o);
        return sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(e));
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        e = errno;
        close(fd);
        sa__out_abort(o);
        return sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(e));
    }
    return SA_OK;
}

static void out_reset(sa__out *o) {
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

int sa__out_commit(sa__out *o, sa_error *err) {
    if (!o || !o->f) return sa_error_set(err, SA_ERR_STATE, "commit output: not open");
    int bad = fflush(o->f) != 0 || ferror(o->f);
    int e = bad ? (errno ? errno : EIO) : 0;
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    o->f = NULL;
    if (!bad && rename(o->tmp, o->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(o->tmp);
        int rc = sa_error_set(err, SA_ERR_IO, "%s: %s", o->path, strerror(e));
        out_reset(o);
        return rc;
    }
    out_reset(o);
    return SA_OK;
}

void sa__out_abort(sa__out *o) {
    if (!o) return;
    if (o->f) fclose(o->f);
    if (o->tmp && o->path) unlink(o->tmp);
    out_reset(o);
}

int sa_file_write(const char *path, const void *data, size_t len, sa_error *err) {
    sa__out o;
    int rc = sa__out_open(&o, path, err);
    if (rc != SA_OK) return rc;
    if (len && fwrite(data, 1, len, o.f) != len) {
        int e = errno ? errno : EIO;
        sa__out_abort(&o);
        return sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(e));
    }
    return sa__out_commit(&o, err);
}

int sa_file_write_text(const char *path, const char *text, sa_error *err) {
    sa__out o;
    int rc = sa__out_open(&o, path, err);
    if (rc != SA_OK) return rc;
    fputs(text ? text : "", o.f);
    fputc('\n', o.f);
    return sa__out_commit(&o, err);
}

int sa_file_write_json(const char *path, const cJSON *doc, sa_error *err) {
    if (!path || !doc) return sa_error_set(err, SA_ERR_INVALID, "write JSON: NULL argument");
    char *text = sa__json_print(doc, 1);
    if (!text) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory formatting JSON", path);
    int rc = sa_file_write_text(path, text, err);
    free(text);
    return rc;
}

int sa_make_dirs(const char *path, sa_error *err) {
    char buf[4096];
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof buf) {
        errno = n == 0 ? ENOENT : ENAMETOOLONG;
        return sa_error_set(err, SA_ERR_IO, "folder '%s': %s", path ? path : "", strerror(errno));
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            sa_error_set(err, SA_ERR_IO, "%s: cannot create folder: %s", buf, strerror(e));
            errno = e;
            return SA_ERR_IO;
        }
        buf[i] = c;
    }
    struct stat st; /* an existing file of that name is not a folder */
    if (stat(path, &st) != 0) {
        int e = errno;
        sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(e));
        errno = e;
        return SA_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        sa_error_set(err, SA_ERR_IO, "%s: not a folder", path);
        errno = ENOTDIR;
        return SA_ERR_IO;
    }
    return SA_OK;
}

char *sa_path_join(const char *dir, const char *name) {
    if (!dir || !name) return NULL;
    size_t a = strlen(dir), b = strlen(name);
    if (a == 0) return sa__strdup(name);
    int slash = dir[a - 1] != '/';
    char *s = malloc(a + (size_t)slash + b + 1);
    if (!s) return NULL;
    memcpy(s, dir, a);
    if (slash) s[a] = '/';
    memcpy(s + a + (size_t)slash, name, b + 1);
    return s;
}
