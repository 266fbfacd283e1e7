/* test_json.c - src/json/json.c: the dotted-path syntax (hd_path_next,
 * hd_path_index), written once there and walked by hd_json_path (json-c
 * trees) and by jtape.c's hd_jv_path (the ingest tape): both must give the
 * same answer. The tape itself: test_jtape.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "json/json.h"
#include "json/jtape.h"

static const char doc[] = "{\"a\":{\"b\":[\"x\",{\"c\":\"y\"},null]},\"\":{\"e\":\"empty key\"},\"n\":null,"
                          "\"k.1\":\"dotted\",\"d\":{\"1\":\"one\"}}";

/* The same answer from both walkers: the string found, or NULL. */
static void both(const char *path, const char *want)
{
    json_object *root = hd_json_parse(doc, sizeof(doc) - 1, NULL);
    assert_non_null(root);
    struct hd_jtape t;
    hd_jt_init(&t);
    assert_int_equal(hd_jt_parse(doc, sizeof(doc) - 1, &t, NULL), HD_OK);
    json_object *j = hd_json_path(root, path);
    hd_jv v = hd_jv_path(hd_jt_root(&t), path);
    const char *js = j != NULL && json_object_is_type(j, json_type_string) ? json_object_get_string(j) : NULL;
    const char *vs = v != NULL && hd_jv_is(v, HD_JT_STRING) ? hd_jv_str(v, NULL) : NULL;
    if (want == NULL) {
        if (j != NULL || v != NULL) {
            fail_msg("%s: expected nothing, json-c %s, tape %s", path, j ? "found" : "-", v ? "found" : "-");
        }
    } else {
        if (js == NULL || vs == NULL || strcmp(js, want) != 0 || strcmp(vs, want) != 0) {
            fail_msg("%s: expected %s, json-c %s, tape %s", path, want, js ? js : "-", vs ? vs : "-");
        }
    }
    hd_jt_free(&t);
    json_object_put(root);
}

static void test_paths_agree(void **state)
{
    (void)state;
    both("a.b.0", "x");
    both("a.b.1.c", "y");
    both(".e", "empty key"); /* an empty first segment names the empty key */
    both("d.1", "one");      /* digits on an object are a key */
    both("a.b.2", NULL);     /* null is absent */
    both("n", NULL);
    both("a.b.3", NULL);
    both("a.b.+1", NULL); /* an index is digits only: no sign, */
    both("a.b. 1", NULL); /* no space, */
    both("a.b.1x", NULL); /* nothing after, */
    both("a.b..0", NULL); /* not empty */
    both("a.b.9999999999", NULL);
    both("k.1", NULL);     /* a dot always separates */
    both("a.b.0.c", NULL); /* below a string */
}

static void test_path_index(void **state)
{
    (void)state;
    size_t idx = 7;
    assert_true(hd_path_index("012", 3, &idx));
    assert_int_equal(idx, 12);
    assert_true(hd_path_index("999999999", 9, &idx));
    assert_int_equal(idx, 999999999);
    assert_false(hd_path_index("1234567890", 10, &idx));
    assert_false(hd_path_index("", 0, &idx));
    assert_false(hd_path_index("-1", 2, &idx));
    const char *p = "a..b.";
    const char *seg;
    size_t n;
    assert_true(hd_path_next(&p, &seg, &n));
    assert_int_equal(n, 1);
    assert_true(hd_path_next(&p, &seg, &n));
    assert_int_equal(n, 0);
    assert_true(hd_path_next(&p, &seg, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(seg, "b", 1);
    assert_false(hd_path_next(&p, &seg, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_path_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
