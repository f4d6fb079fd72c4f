/* The library's file helpers (src/base): bounded whole-file reading, writing through a temporary file renamed
 * into place (a failed or aborted write leaves the old file), path joining, splitmix64, checked sizes. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"
#include "base/util.h"
#include "testutil.h"

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_read(const char *dir) {
    char *path = sa_path_join(dir, "a.txt");
    sa_error err = {0};
    CHECK(sa_file_write(path, "hello", 5, &err) == SA_OK);
    char *data = NULL;
    size_t n = 0;
    CHECK(sa__read_file(path, 5, &data, &n, &err) == SA_OK && n == 5 && !strcmp(data, "hello"));
    free(data);
    CHECK(sa__read_file(path, 4, &data, &n, &err) == SA_ERR_RANGE && !data &&
          strstr(err.msg, "a.txt"));
    CHECK(sa__read_file("/nonexistent/x", 10, &data, NULL, &err) == SA_ERR_IO &&
          strstr(err.msg, "/nonexistent/x"));
    CHECK(sa__read_file(dir, 10, &data, NULL, &err) == SA_ERR_IO); /* a folder */
    /* a pipe-like file with no size up front: /proc files report 0 bytes */
    CHECK(sa__read_file("/proc/self/status", 1 << 20, &data, &n, &err) == SA_OK && n > 0 &&
          strstr(data, "Name:"));
    free(data);
    CHECK(sa__read_file("/proc/self/status", 8, &data, &n, &err) == SA_ERR_RANGE);
    /* empty file */
    char *empty = sa_path_join(dir, "empty");
    CHECK(sa_file_write(empty, "", 0, &err) == SA_OK);
    CHECK(sa__read_file(empty, 10, &data, &n, &err) == SA_OK && n == 0 && data && data[0] == '\0');
    free(data);
    free(empty);
    free(path);
}

static void test_atomic_write(const char *dir) {
    char *path = sa_path_join(dir, "out.json");
    sa_error err = {0};
    CHECK(sa_file_write(path, "old", 3, &err) == SA_OK);
    int before = count_entries(dir);
    sa__out o;
    CHECK(sa__out_open(&o, path, &err) == SA_OK);
    fputs("new, half written", o.f);
    fflush(o.f);
    char *data = tu_read_file(path, NULL);
    CHECK(data && !strcmp(data, "old")); /* the final name keeps the old contents while writing */
    free(data);
    sa__out_abort(&o);
    data = tu_read_file(path, NULL);
    CHECK(data && !strcmp(data, "old") &&
          count_entries(dir) == before); /* abort: old file, no temp left */
    free(data);
    CHECK(sa__out_open(&o, path, &err) == SA_OK);
    fputs("new", o.f);
    CHECK(sa__out_commit(&o, &err) == SA_OK && o.f == NULL);
    data = tu_read_file(path, NULL);
    CHECK(data && !strcmp(data, "new") && count_entries(dir) == before);
    free(data);
    sa__out_abort(&o); /* safe after commit */
    /* a folder that does not exist: an error naming the path, nothing created */
    CHECK(sa__out_open(&o, "/nonexistent/dir/f.json", &err) == SA_ERR_IO &&
          strstr(err.msg, "/nonexistent/dir"));
    /* a write error (device full) is reported at commit and the old file survives */
    if (access("/dev/full", W_OK) == 0) {
        CHECK(sa__out_open(&o, path, &err) == SA_OK);
        FILE *full = fopen("/dev/full", "wb");
        if (full) {
            fclose(o.f); /* swap the stream for one that fails: the temp file is still removed */
            o.f = full;
            setvbuf(full, NULL, _IONBF, 0);
            fputs("x", full);
            CHECK(sa__out_commit(&o, &err) == SA_ERR_IO);
            data = tu_read_file(path, NULL);
            CHECK(data && !strcmp(data, "new") && count_entries(dir) == before);
            free(data);
        } else {
            sa__out_abort(&o);
        }
    }
    free(path);
}

static void test_small_helpers(void) {
    char *p = sa_path_join("a", "b");
    CHECK(p && !strcmp(p, "a/b"));
    free(p);
    p = sa_path_join("a/", "b");
    CHECK(p && !strcmp(p, "a/b"));
    free(p);
    p = sa_path_join("", "b");
    CHECK(p && !strcmp(p, "b"));
    free(p);
    CHECK(sa_path_join(NULL, "b") == NULL);
    /* splitmix64 from seed 0: the published first outputs */
    uint64_t s = 0;
    CHECK(sa__rng_next(&s) == 0xE220A8397B1DCDAFull);
    CHECK(sa__rng_next(&s) == 0x6E789E6AA1B965F4ull);
    s = 7;
    for (int i = 0; i < 1000; i++) {
        int v = sa__rng_below(&s, 13);
        float f = sa__rng_uniform_pm1(&s);
        CHECK(v >= 0 && v < 13 && f >= -1.0f && f < 1.0f);
    }
    size_t out = 0;
    CHECK(sa__mul_size(3, 5, &out) && out == 15);
    CHECK(!sa__mul_size(SIZE_MAX / 2, 3, &out) && out == 15);
    CHECK(sa__mul3_size(2, 3, 4, &out) && out == 24);
    CHECK(!sa__mul3_size(SIZE_MAX, 2, 1, &out));
    uint64_t u = 0;
    CHECK(sa__mul_u64(1ull << 32, 1ull << 31, &u) && u == 1ull << 63);
    CHECK(!sa__mul_u64(1ull << 32, 1ull << 32, &u));
}

int main(void) {
    char *dir = tu_tmpdir();
    CHECK(dir != NULL);
    if (dir) {
        test_read(dir);
        test_atomic_write(dir);
        tu_rmtree(dir);
        free(dir);
    }
    test_small_helpers();
    return tu_finish("test_files");
}
