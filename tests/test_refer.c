/* Referring datasets: the restricted unpickler on pickles Python 3 writes at protocols 0-5
 * (compared with json.dumps of the same object), Python-2 text opcodes written by hand, refusals
 * (globals, truncation); the RefCOCO loader on ../shared/data/refer_sample (split counts, every
 * sample's ids, sentence and mask area against expected.json); bad refs and bad masks skipped one
 * by one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/coco.h"
#include "segagent/fileio.h"
#include "segagent/refer.h"
#include "segagent/scenes.h"
#include "testutil.h"
#include "weights/unpickle.h"

static const char *k_obj =
    "[{'ref_id': 251, 'ann_id': 900100042049, 'neg': -7, 'big': -(2**40), 'f': 0.1, 'g': -2.5e300,"
    " 'b': True, 'c': False, 'n': None, 's': 'it\\'s \"q\" back\\\\slash\\nnl\\ttab',"
    " 'u': 'the boy\\u2019s hat \\u2014 caf\\xe9 \\U0001F600', 'e': '', 't': (1, (2, 3), []),"
    " 'sentences': [{'sent': 'kid', 'sent_id': 65541, 'tokens': ['kid']}]*3}, [], {}, 2**31, 255, "
    "256,"
    " 65535, 65536, -1, -129, 'x'*300]";

/* Runs python3 on script (written to DIR/gen.py) with DIR as its argument. */
static int run_python(const char *dir, const char *script) {
    char path[4096], cmd[8192];
    snprintf(path, sizeof path, "%s/gen.py", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 %s %s", path, dir);
    return system(cmd);
}

/* Writes DIR/p<proto>.pkl and DIR/p<proto>.json for every protocol. */
static int write_pickles(const char *dir) {
    char script[4096];
    snprintf(
        script, sizeof script,
        "import pickle, json, sys, collections\n"
        "d = sys.argv[1]\n"
        "o = %s\n"
        "for p in range(6):\n"
        "    open(d + '/p%%d.pkl' %% p, 'wb').write(pickle.dumps(o, protocol=p))\n"
        "    open(d + '/p%%d.json' %% p, 'w').write(json.dumps(o))\n"
        "open(d + '/od.pkl', 'wb').write(pickle.dumps(collections.OrderedDict(), protocol=2))\n"
        "open(d + '/set.pkl', 'wb').write(pickle.dumps({1, 2}, protocol=2))\n"
        "open(d + '/set4.pkl', 'wb').write(pickle.dumps([{1, 2}, frozenset([3])], protocol=4))\n"
        "open(d + '/bytes.pkl', 'wb').write(pickle.dumps([b'abc', b'x' * 300], protocol=3))\n",
        k_obj);
    return run_python(dir, script);
}

static char *to_json(const uint8_t *p, size_t n, int *rc) {
    char *j = NULL;
    sa_error err = {0};
    *rc = sa__pickle_to_json(p, n, "t.pkl", &j, NULL, &err);
    return j;
}

static void test_protocols(const char *dir) {
    char path[4096];
    for (int p = 0; p <= 5; p++) {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/p%d.pkl", dir, p);
        char *pk = tu_read_file(path, &n);
        snprintf(path, sizeof path, "%s/p%d.json", dir, p);
        char *want = tu_read_file(path, NULL);
        CHECK(pk && want);
        if (!pk || !want) continue;
        int rc = 0;
        char *got = to_json((const uint8_t *)pk, n, &rc);
        CHECKF(rc == SA_OK, "protocol %d: rc %d", p, rc);
        cJSON *a = got ? cJSON_Parse(got) : NULL, *b = cJSON_Parse(want);
        CHECKF(a && b && cJSON_Compare(a, b, 1), "protocol %d: %s\n  vs %s", p,
               got ? got : "(null)", want);
        /* every proper prefix is refused, never crashes */
        for (size_t k = 0; k < n; k++) {
            char *t = to_json((const uint8_t *)pk, k, &rc);
            CHECKF(rc != SA_OK && !t, "protocol %d: prefix %zu accepted", p, k);
            free(t);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(got);
        free(pk);
        free(want);
    }
    int rc = 0;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/od.pkl", dir);
    char *pk = tu_read_file(path, &n), *j = to_json((const uint8_t *)pk, n, &rc);
    CHECKF(rc == SA_ERR_UNSUPPORTED && !j, "OrderedDict: rc %d", rc);
    free(pk);
    free(j);
    snprintf(path, sizeof path, "%s/set.pkl", dir); /* protocol 2 sets call builtins.set */
    pk = tu_read_file(path, &n);
    j = to_json((const uint8_t *)pk, n, &rc);
    CHECKF(rc == SA_ERR_UNSUPPORTED && !j, "set at protocol 2: rc %d", rc);
    free(pk);
    free(j);
    snprintf(path, sizeof path, "%s/set4.pkl", dir);
    pk = tu_read_file(path, &n);
    j = to_json((const uint8_t *)pk, n, &rc);
    CHECKF(rc == SA_OK && j && strcmp(j, "[[1,2],[3]]") == 0, "sets at protocol 4: %s",
           j ? j : "(null)");
    free(pk);
    free(j);
    snprintf(path, sizeof path, "%s/bytes.pkl", dir);
    pk = tu_read_file(path, &n);
    j = to_json((const uint8_t *)pk, n, &rc);
    CHECKF(rc == SA_OK && j && strncmp(j, "[\"abc\",\"xxx", 11) == 0, "bytes: %s",
           j ? j : "(null)");
    free(pk);
    free(j);
}

static void test_python2_text(void) {
    /* what Python 2's pickle writes at protocol 0: STRING reprs, INT 01 for True, LONG, FLOAT,
     * UNICODE in raw-unicode-escape (a Latin-1 byte and \u escapes), PUT / GET */
    static const char p2[] =
        "(lp0\nS'it\\'s \\x41\\n'\np1\naI01\naI00\naI-42\naL900100042049L\naF1.5\n"
        "aV\\u2019x\xe9\np2\nag1\na(dp3\nS'k'\np4\nI3\nsa.";
    int rc = 0;
    char *j = to_json((const uint8_t *)p2, sizeof p2 - 1, &rc);
    const char *want =
        "[\"it's A\\u000a\",true,false,-42,900100042049,1.5,\"\xe2\x80\x99x\xc3\xa9\",\"it's "
        "A\\u000a\",{\"k\":3}]";
    CHECKF(rc == SA_OK && j && strcmp(j, want) == 0, "python 2 text: rc %d %s", rc,
           j ? j : "(null)");
    free(j);
    static const char evil[] = "cos\nsystem\n(S'echo pwned'\ntR.";
    j = to_json((const uint8_t *)evil, sizeof evil - 1, &rc);
    CHECKF(rc == SA_ERR_UNSUPPORTED && !j, "os.system: rc %d", rc);
    free(j);
    static const char evil3[] = "\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
    j = to_json((const uint8_t *)evil3, sizeof evil3 - 1, &rc);
    CHECKF(rc == SA_ERR_UNSUPPORTED && !j, "STACK_GLOBAL: rc %d", rc);
    free(j);
    static const char *bad[] = {
        "I12x\n.", "S'abc\n.", "Fnan?\n.", "g7\n.", "I99999999999999999999\n.", "(l"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        j = to_json((const uint8_t *)bad[k], strlen(bad[k]), &rc);
        CHECKF(rc != SA_OK && !j, "bad text pickle %zu accepted", k);
        free(j);
    }
    /* memo sharing cannot blow up the output: 30 levels of [x, x] */
    char big[1024];
    size_t n = 0;
    big[n++] = (char)0x80;
    big[n++] = 2;
    big[n++] = 'K';
    big[n++] = 1;
    for (int k = 0; k < 30; k++) {
        big[n++] = 'q';
        big[n++] = (char)k;
        big[n++] = 'h';
        big[n++] = (char)k;
        big[n++] = (char)0x86; /* TUPLE2 */
    }
    big[n++] = '.';
    j = to_json((const uint8_t *)big, n, &rc);
    CHECKF(rc != SA_OK && !j, "memo bomb: rc %d", rc);
    free(j);
}

static const cJSON *find_sample(const cJSON *samples, int64_t ref, int64_t sent) {
    const cJSON *s;
    cJSON_ArrayForEach(s, samples) {
        if ((int64_t)cJSON_GetObjectItem(s, "ref_id")->valuedouble == ref &&
            (int64_t)cJSON_GetObjectItem(s, "sent_id")->valuedouble == sent)
            return s;
    }
    return NULL;
}

static void test_sample(void) {
    char *dir = tu_shared_path("data/refer_sample/refer/refcoco");
    char *dirg = tu_shared_path("data/refer_sample/refer/refcocog");
    char *images = tu_shared_path("data/refer_sample/images/train2014");
    char *exp_path = tu_shared_path("data/refer_sample/expected.json");
    char *et = tu_read_file(exp_path, NULL);
    cJSON *exp = et ? cJSON_Parse(et) : NULL;
    CHECK(exp != NULL);
    if (!exp) return;
    const cJSON *ds = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "datasets"), "refcoco");
    const cJSON *dsg = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "datasets"), "refcocog");
    static const char *splits[] = {"train", "val", "testA", "testB"};
    sa_error err = {0};
    int total = 0;
    for (int k = 0; k < 4; k++) {
        sa_refer *r = NULL;
        int rc =
            sa_refer_open("refcoco", splits[k], dir, images, sa_refer_default_params(), &r, &err);
        CHECKF(rc == SA_OK, "%s: %s", splits[k], err.msg);
        if (rc != SA_OK) continue;
        const cJSON *sp = cJSON_GetObjectItem(cJSON_GetObjectItem(ds, "splits"), splits[k]);
        CHECK(sa_refer_count(r) == cJSON_GetObjectItem(sp, "sentences")->valueint);
        CHECK(sa_refer_n_refs(r) == cJSON_GetObjectItem(sp, "refs")->valueint);
        CHECK(sa_refer_n_warnings(r) == 0);
        CHECK(strcmp(sa_refer_split_by(r), "unc") == 0);
        for (int i = 0; i < sa_refer_count(r); i++) {
            const sa_refer_sample *s = sa_refer_get(r, i);
            const cJSON *e = find_sample(cJSON_GetObjectItem(ds, "samples"), s->ref_id, s->sent_id);
            CHECKF(e != NULL, "sample %s not expected", s->id);
            if (!e) continue;
            CHECK((int64_t)cJSON_GetObjectItem(e, "ann_id")->valuedouble == s->ann_id);
            CHECK((int64_t)cJSON_GetObjectItem(e, "image_id")->valuedouble == s->image_id);
            CHECKF(strcmp(cJSON_GetObjectItem(e, "sent")->valuestring, s->caption) == 0, "%s vs %s",
                   cJSON_GetObjectItem(e, "sent")->valuestring, s->caption);
            CHECK(strcmp(s->split, splits[k]) == 0);
            sa_image img = {0};
            sa_mask gt = {0};
            rc = sa_refer_load(r, i, &img, &gt, &err);
            CHECKF(rc == SA_OK, "%s", err.msg);
            CHECKF((double)sa_mask_area(&gt) == cJSON_GetObjectItem(e, "mask_area")->valuedouble,
                   "sample %s: area %zu", s->id, sa_mask_area(&gt));
            sa_image_free(&img);
            sa_mask_free(&gt);
            total++;
        }
        sa_refer_free(r);
    }
    CHECK(total == cJSON_GetObjectItem(ds, "sentences")->valueint);
    /* all splits, one sample per ref */
    sa_refer *r = NULL;
    sa_refer_params pr = sa_refer_default_params();
    pr.per_ref = 1;
    CHECK(sa_refer_open("refcoco", NULL, dir, images, pr, &r, &err) == SA_OK);
    CHECK(sa_refer_count(r) == cJSON_GetObjectItem(ds, "refs")->valueint);
    CHECK(r && sa_refer_get(r, 0)->sent_id == -1 && strchr(sa_refer_get(r, 0)->id, '_') == NULL);
    sa_refer_free(r);
    /* refcocog: umd by convention, a Python 3 protocol-4 pickle */
    static const char *gsplits[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        r = NULL;
        CHECKF(sa_refer_open("refcocog", gsplits[k], dirg, images, sa_refer_default_params(), &r,
                             &err) == SA_OK,
               "%s", err.msg);
        const cJSON *sp = cJSON_GetObjectItem(cJSON_GetObjectItem(dsg, "splits"), gsplits[k]);
        CHECK(sa_refer_count(r) == cJSON_GetObjectItem(sp, "sentences")->valueint);
        CHECK(r && strcmp(sa_refer_split_by(r), "umd") == 0);
        sa_refer_free(r);
    }
    /* wrong splitBy: no such pickle; bad splitBy; a split with no sample */
    pr = sa_refer_default_params();
    pr.split_by = "google";
    r = NULL;
    CHECK(sa_refer_open("refcoco", "val", dir, images, pr, &r, &err) == SA_ERR_IO && !r);
    CHECK(strstr(err.msg, "refs(google).p") != NULL);
    pr.split_by = "xyz";
    CHECK(sa_refer_open("refcoco", "val", dir, images, pr, &r, &err) == SA_ERR_INVALID && !r);
    CHECK(sa_refer_open("refcoco", "nosuch", dir, images, sa_refer_default_params(), &r, &err) ==
              SA_ERR_NOT_FOUND &&
          !r);
    cJSON_Delete(exp);
    free(et);
    free(exp_path);
    free(dir);
    free(dirg);
    free(images);
}

/* Bad refs are skipped one by one with a warning naming the file and the ref; bad masks fail alone.
 */
static void test_bad_items(const char *tmp) {
    static const char coco[] =
        "{\"images\": [{\"id\": 7, \"file_name\": \"COCO_train2014_000000000007.jpg\", \"height\": "
        "472, "
        "\"width\": 500}, {\"id\": 8, \"file_name\": \"missing.jpg\", \"height\": 10, \"width\": "
        "10}],"
        " \"annotations\": ["
        "{\"id\": 1, \"image_id\": 7, \"category_id\": 1, \"segmentation\": [[10, 10, 100, 10, "
        "100, 100]]},"
        "{\"id\": 2, \"image_id\": 7, \"category_id\": 1, \"segmentation\": [[10, 10, 900, 10, "
        "900, 100]]},"
        "{\"id\": 3, \"image_id\": 7, \"category_id\": 1, \"segmentation\": {\"size\": [472, 500], "
        "\"counts\": [236000]}},"
        "{\"id\": 4, \"image_id\": 8, \"category_id\": 1, \"segmentation\": [[1, 1, 5, 1, 5, 5]]},"
        "{\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"segmentation\": {\"size\": [10, 10], "
        "\"counts\": [100]}}],"
        " \"categories\": [{\"id\": 1, \"name\": \"person\"}]}";
    sa_coco_set *set = NULL;
    sa_error err = {0};
    CHECKF(sa_coco_parse(coco, sizeof coco - 1, "instances.json", sa_coco_default_params(), &set,
                         &err) == SA_OK,
           "%s", err.msg);
    CHECK(
        run_python(
            tmp,
            "import pickle, sys\n"
            "def S(i, a, im, split='val'):\n"
            "    return dict(ref_id=i, ann_id=a, image_id=im, split=split,"
            " sentences=[dict(sent='s%d' % i, sent_id=i)])\n"
            "e = S(7, 1, 7)\n"
            "e['sentences'] = []\n"
            "refs = [S(1, 1, 7), S(2, 2, 7), S(3, 3, 7), S(4, 4, 8), S(5, 99, 7), S(6, 1, 99), 42,"
            " dict(ref_id='x'), e, S(8, 5, 7), S(9, 1, 7, split='test')]\n"
            "open(sys.argv[1] + '/refs.p', 'wb').write(pickle.dumps(refs, protocol=2))\n") == 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/refs.p", tmp);
    size_t n = 0;
    char *pk = tu_read_file(path, &n);
    char *images = tu_shared_path("data/refer_sample/images/train2014");
    sa_refer *r = NULL;
    int rc = sa_refer_from_pickle("refcoco", (const uint8_t *)pk, n, "refs.p", set, "val", images,
                                  sa_refer_default_params(), &r, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    /* kept: refs 1, 2, 3, 8; skipped: 4 (file missing), 5 (ann), 6 (image), 42, "x", 7 (no
     * sentence) */
    CHECKF(sa_refer_count(r) == 4, "%d samples", sa_refer_count(r));
    CHECKF(sa_refer_n_warnings(r) == 6, "%d warnings", sa_refer_n_warnings(r));
    for (int i = 0; i < sa_refer_n_warnings(r); i++)
        CHECKF(strncmp(sa_refer_warning(r, i), "refs.p: ref ", 12) == 0, "%s",
               sa_refer_warning(r, i));
    CHECK(r && strstr(sa_refer_warning(r, 1), "annotation 99") != NULL);
    int ok = 0;
    for (int i = 0; i < sa_refer_count(r); i++) {
        sa_image img = {0};
        sa_mask gt = {0};
        rc = sa_refer_load(r, i, &img, &gt, &err);
        int64_t id = sa_refer_get(r, i)->ref_id;
        if (id == 1) {
            CHECKF(rc == SA_OK && sa_mask_area(&gt) > 3000, "%s", err.msg);
            ok += rc == SA_OK;
        } else {
            CHECKF(rc == SA_ERR_FORMAT && !gt.data && !img.data, "ref %lld rc %d", (long long)id,
                   rc);
            CHECKF(strstr(err.msg, "instances.json: ref ") != NULL, "%s", err.msg);
            if (id == 2) CHECKF(strstr(err.msg, "outside") != NULL, "%s", err.msg);
            if (id == 3) CHECKF(strstr(err.msg, "empty") != NULL, "%s", err.msg);
        }
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    CHECK(ok == 1);
    sa_refer_free(r);
    free(images);
    free(pk);
    sa_coco_free(set);
}

/* The other sources: a COCO instances file, SegAgent's JSON, a DIS5K layout, the built-in scenes.
 */
static void test_other_sources(const char *tmp) {
    sa_error err = {0};
    char *inst = tu_shared_path("data/refer_sample/refer/refcoco/instances.json");
    char *images = tu_shared_path("data/refer_sample/images/train2014");
    char *sj = tu_shared_path("data/refer_sample/segagent_json/refcoco_val.json");
    char *exp_path = tu_shared_path("data/refer_sample/expected.json");
    char *it = tu_read_file(inst, NULL), *et = tu_read_file(exp_path, NULL);
    cJSON *ij = it ? cJSON_Parse(it) : NULL, *exp = et ? cJSON_Parse(et) : NULL;
    CHECK(ij && exp);
    if (!ij || !exp) return;
    /* independent counts from the JSON: all annotations, person ones, area >= 20000 */
    int n_all = 0, n_person = 0, n_big = 0;
    int64_t person_id = -1;
    const cJSON *c, *a;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ij, "categories")) {
        if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "person") == 0)
            person_id = (int64_t)cJSON_GetObjectItem(c, "id")->valuedouble;
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(ij, "annotations")) {
        n_all++;
        n_person += (int64_t)cJSON_GetObjectItem(a, "category_id")->valuedouble == person_id;
        n_big += cJSON_GetObjectItem(a, "area")->valuedouble >= 20000;
    }
    sa_refer *r = NULL;
    sa_refer_params p = sa_refer_default_params();
    CHECKF(sa_refer_open_coco("coco", inst, images, p, &r, &err) == SA_OK, "%s", err.msg);
    CHECKF(sa_refer_count(r) == n_all && n_all == 17, "%d of %d", sa_refer_count(r), n_all);
    int crowd_seen = 0;
    for (int i = 0; i < sa_refer_count(r); i++) {
        const sa_refer_sample *s = sa_refer_get(r, i);
        if (s->ann_id != 900100042049LL) continue;
        sa_image img = {0};
        sa_mask gt = {0};
        CHECKF(sa_refer_load(r, i, &img, &gt, &err) == SA_OK, "%s", err.msg);
        CHECK(sa_mask_area(&gt) == 11014);
        CHECK(strcmp(s->caption, "bird") == 0);
        crowd_seen = 1;
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    CHECK(crowd_seen);
    sa_refer_free(r);
    p.category = "person";
    CHECK(sa_refer_open_coco("coco", inst, images, p, &r, &err) == SA_OK &&
          sa_refer_count(r) == n_person);
    CHECK(r && strcmp(sa_refer_get(r, 0)->caption, "person") == 0);
    sa_refer_free(r);
    p.category = NULL;
    p.min_area = 20000;
    CHECK(sa_refer_open_coco("coco", inst, images, p, &r, &err) == SA_OK &&
          sa_refer_count(r) == n_big);
    sa_refer_free(r);
    /* SegAgent's JSON: 11 samples over 5 entries, masks as expected */
    const cJSON *sg = cJSON_GetObjectItem(exp, "segagent");
    CHECKF(sa_refer_open_segagent("refcoco", sj, images, sa_refer_default_params(), &r, &err) ==
               SA_OK,
           "%s", err.msg);
    CHECK(sa_refer_count(r) == cJSON_GetObjectItem(sg, "samples")->valueint);
    CHECK(sa_refer_n_refs(r) == cJSON_GetObjectItem(sg, "entries")->valueint);
    for (int i = 0; i < sa_refer_count(r); i++) {
        const sa_refer_sample *s = sa_refer_get(r, i);
        const cJSON *e =
            cJSON_GetArrayItem(cJSON_GetObjectItem(sg, "entries_list"), (int)s->ref_id);
        sa_image img = {0};
        sa_mask gt = {0};
        CHECKF(sa_refer_load(r, i, &img, &gt, &err) == SA_OK, "%s", err.msg);
        CHECKF(e && (double)sa_mask_area(&gt) == cJSON_GetObjectItem(e, "area")->valuedouble,
               "sample %s", s->id);
        CHECK(e && s->image_id == (int64_t)cJSON_GetObjectItem(e, "image_name")->valuedouble);
        sa_image_free(&img);
        sa_mask_free(&gt);
    }
    sa_refer_free(r);
    p = sa_refer_default_params();
    p.per_ref = 1;
    CHECK(sa_refer_open_segagent("refcoco", sj, images, p, &r, &err) == SA_OK &&
          sa_refer_count(r) == 5);
    sa_refer_free(r);
    /* DIS5K: DIS-TE1/{im,gt} with the class in the file name */
    char path[4096];
    snprintf(path, sizeof path,
             "mkdir -p %s/dis/DIS-TE1/im %s/dis/DIS-TE1/gt %s/dis/DIS-VD/im %s/dis/DIS-VD/gt", tmp,
             tmp, tmp, tmp);
    CHECK(system(path) == 0);
    sa_image img = {0};
    sa_mask gt = {0};
    CHECK(sa_scene_render(0, 1, 64, 48, &img, &gt, &err) == SA_OK);
    static const char *const names[] = {"DIS-TE1/%s/1#Accessories#1#Bag#2339506821_83cf9f1d22_o",
                                        "DIS-VD/%s/12#Graphics#5#Kite_Board#123",
                                        "DIS-VD/%s/orphan"};
    for (int k = 0; k < 3; k++) {
        char rel[512];
        snprintf(rel, sizeof rel, names[k], "im");
        snprintf(path, sizeof path, "%s/dis/%s.png", tmp, rel);
        CHECK(sa_image_save_png(path, &img, &err) == SA_OK);
        if (k == 2) continue; /* an image without a mask: one warning */
        snprintf(rel, sizeof rel, names[k], "gt");
        snprintf(path, sizeof path, "%s/dis/%s.png", tmp, rel);
        CHECK(sa_mask_save_png(path, &gt, &err) == SA_OK);
    }
    size_t area = sa_mask_area(&gt);
    sa_image_free(&img);
    sa_mask_free(&gt);
    snprintf(path, sizeof path, "%s/dis", tmp);
    CHECKF(sa_refer_open_hres("dis5k", path, sa_refer_default_params(), &r, &err) == SA_OK, "%s",
           err.msg);
    CHECK(sa_refer_count(r) == 2);
    CHECK(sa_refer_n_warnings(r) >= 1);
    CHECK(r && strcmp(sa_refer_get(r, 0)->caption, "Bag") == 0 &&
          strcmp(sa_refer_get(r, 0)->split, "DIS-TE1") == 0);
    CHECK(r && strcmp(sa_refer_get(r, 1)->caption, "Kite Board") == 0);
    CHECK(r && sa_refer_load(r, 1, &img, &gt, &err) == SA_OK && sa_mask_area(&gt) == area);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_refer_free(r);
    /* a captions file: a part-prefixed name, a bare name, a name of no image (a warning) */
    char caps[600];
    snprintf(caps, sizeof caps, "%s/caps.tsv", tmp);
    CHECK(sa_file_write_text(caps,
                             "# captions\n\nDIS-VD/12#Graphics#5#Kite_Board#123\tthe kite board\r\n"
                             "1#Accessories#1#Bag#2339506821_83cf9f1d22_o\t a red bag \nnosuch\tx",
                             &err) == SA_OK);
    sa_refer_params cp = sa_refer_default_params();
    cp.captions = caps;
    CHECKF(sa_refer_open_hres("dis5k", path, cp, &r, &err) == SA_OK, "%s", err.msg);
    CHECK(r && !strcmp(sa_refer_get(r, 0)->caption, "a red bag"));
    CHECK(r && !strcmp(sa_refer_get(r, 1)->caption, "the kite board"));
    int warned = 0;
    for (int k = 0; r && k < sa_refer_n_warnings(r); k++)
        warned += strstr(sa_refer_warning(r, k), "1 of its 3 captions name no image") != NULL;
    CHECK(warned == 1);
    sa_refer_free(r);
    CHECK(sa_file_write_text(caps, "{\"12#Graphics#5#Kite_Board#123\": \"kite\"}", &err) == SA_OK);
    CHECK(sa_refer_open_hres("dis5k", path, cp, &r, &err) == SA_OK && r &&
          !strcmp(sa_refer_get(r, 1)->caption, "kite") &&
          !strcmp(sa_refer_get(r, 0)->caption, "Bag"));
    sa_refer_free(r);
    static const char *const bad_caps[] = {"a b\n",  "{\"a\": 3}", "a\tx\na\ty\n",
                                           "\ta\n",  "{\"a\": ",   "# only a comment\n",
                                           "[\"a\"]"};
    for (size_t k = 0; k < sizeof bad_caps / sizeof *bad_caps; k++) {
        CHECK(sa_file_write_text(caps, bad_caps[k], &err) == SA_OK);
        r = NULL;
        CHECKF(sa_refer_open_hres("dis5k", path, cp, &r, &err) == SA_ERR_PARSE && !r &&
                   strstr(err.msg, "caps.tsv"),
               "captions '%s': %s", bad_caps[k], err.msg);
    }
    cp.captions = "/nonexistent/caps.tsv";
    CHECK(sa_refer_open_hres("dis5k", path, cp, &r, &err) == SA_ERR_IO && !r);
    /* the built-in scenes */
    CHECK(sa_refer_open_scenes(&r, &err) == SA_OK && sa_refer_count(r) == sa_scene_count());
    CHECK(r && strcmp(sa_refer_get(r, 0)->caption, sa_scene_description(0)) == 0);
    CHECK(r && sa_refer_load(r, 0, &img, &gt, &err) == SA_OK && img.width == 320 &&
          sa_mask_area(&gt) > 0);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_refer_free(r);
    /* by spec, as the command line gives it */
    char *refdir = tu_shared_path("data/refer_sample/refer/refcoco");
    snprintf(path, sizeof path, "refcoco:val=%s", refdir);
    CHECKF(sa_refer_open_spec(path, images, sa_refer_default_params(), &r, &err) == SA_OK &&
               sa_refer_count(r) == 11,
           "%s", err.msg);
    sa_refer_free(r);
    snprintf(path, sizeof path, "segagent=%s", sj);
    CHECK(sa_refer_open_spec(path, images, sa_refer_default_params(), &r, &err) == SA_OK &&
          sa_refer_count(r) == 11);
    sa_refer_free(r);
    CHECK(sa_refer_open_spec("scenes", NULL, sa_refer_default_params(), &r, &err) == SA_OK);
    sa_refer_free(r);
    CHECK(sa_refer_open_spec("nosuch=x", NULL, sa_refer_default_params(), &r, &err) ==
              SA_ERR_INVALID &&
          !r);
    CHECK(sa_refer_open_spec("coco:val=x", NULL, sa_refer_default_params(), &r, &err) ==
              SA_ERR_INVALID &&
          !r);
    CHECK(sa_refer_open_spec("refcoco", NULL, sa_refer_default_params(), &r, &err) ==
              SA_ERR_INVALID &&
          !r);
    free(refdir);
    cJSON_Delete(ij);
    cJSON_Delete(exp);
    free(it);
    free(et);
    free(inst);
    free(images);
    free(sj);
    free(exp_path);
}

int main(void) {
    tu_require_shared();
    if (system("python3 -c 'import pickle' 2>/dev/null") != 0) {
        printf("skip: python3 is needed to write the test pickles\n");
        return 77;
    }
    char *tmp = tu_tmpdir();
    CHECK(write_pickles(tmp) == 0);
    test_protocols(tmp);
    test_python2_text();
    test_sample();
    test_bad_items(tmp);
    test_other_sources(tmp);
    tu_rmtree(tmp);
    free(tmp);
    return tu_finish("test_refer");
}
