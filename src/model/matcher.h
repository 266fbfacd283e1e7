/* matcher.h - Alertmanager-style matchers on event fields (SPEC 4 `match`,
 * silences): "k8s.namespace=~prod-.*", "labels.team!=infra", "name!~Test.*".
 *
 * A matcher is a field path, an operator (=, !=, =~, !~) and a value; a
 * regex is anchored at both ends as in Alertmanager (RE2 syntax, run by
 * PCRE2), compiled once when the matcher is made. The field paths are those
 * of hd_event_field (model/field.c): id, source, severity, state, name,
 * description, url, host, containerId, alertKey, k8s.*, labels.<key>,
 * raw.<path>. In the list form an absent field reads as "" (so "x=" matches
 * events without x, as in Alertmanager); the older equality object
 * {"path": value} never matches an absent field (absent_never). */
#ifndef HD_MATCHER_H
#define HD_MATCHER_H

#include "core/buf.h"
#include "core/err.h"
#include "json/json.h"

enum hd_match_op { HD_MATCH_EQ = 0, HD_MATCH_NE, HD_MATCH_RE, HD_MATCH_NRE };

struct hd_match {
    char *path;  /* "k8s.namespace", "labels.rule", "raw.alert.name" */
    char *value; /* the text compared, or the regex as written */
    enum hd_match_op op;
    int absent_never; /* equality-object form: an absent field never matches */
    void *re;         /* compiled regex (pcre2_code) for =~ and !~ */
};

/* 1 if path names a field matchers can read. */
int hd_match_path_valid(const char *path);

/* Parses "path op value" (value may be "double-quoted" with \" and \\
 * escapes; spaces around the operator are allowed) and compiles it. err says
 * what is wrong with the text (the caller prefixes where it is). */
int hd_match_parse(const char *text, struct hd_match *out, struct hd_err *err);
/* A matcher given as a JSON string ("path=~value"), or as Alertmanager's API
 * object {"name","value","isRegex","isEqual"} (isEqual defaults to true). */
int hd_match_from_json(json_object *o, struct hd_match *out, struct hd_err *err);
/* An equality matcher (the object form {"path": value}). */
int hd_match_equal(const char *path, const char *value, struct hd_match *out, struct hd_err *err);

/* 1 if the field's value (NULL when the event has none) satisfies m. */
int hd_match_test(const struct hd_match *m, const char *value);
/* Appends the matcher as text ("path=~\"value\"" quoted as needed). */
int hd_match_format(const struct hd_match *m, struct hd_buf *out);

void hd_match_clear(struct hd_match *m);
void hd_matches_free(struct hd_match *m, size_t n);

#endif
