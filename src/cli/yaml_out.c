/* yaml_out.c - `-o yaml`: a JSON answer printed as YAML with libyaml's
 * emitter. Strings that YAML would read back as something else (true, 1e3,
 * null, ~, "") are quoted; numbers, booleans and null stay plain. */
#include "cli/client_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* 1 if s, written plain, would be read back as a string (YAML 1.1 and 1.2 core). */
static int plain_is_string(const char *s)
{
    static const char *const words[] = {"null", "~", "true", "false", "yes",   "no",    "on",
                                        "off",  "y", "n",    ".inf",  "-.inf", "+.inf", ".nan"};
    if (s[0] == '\0' || isspace((unsigned char)s[0])) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(s, words[i]) == 0) {
            return 0;
        }
    }
    char *end = NULL;
    (void)strtod(s, &end);
    if (end != NULL && *end == '\0') {
        return 0; /* a number (inf and nan included) */
    }
    size_t n = strspn(s, "+-0123456789._:xXoObBeE");
    return s[n] != '\0'; /* 0x1F, 0o17, 1_000, 12:30 (sexagesimal) read as numbers in YAML 1.1 */
}

static int scalar(yaml_emitter_t *em, const char *v, int is_string)
{
    yaml_event_t ev;
    int plain = !is_string || plain_is_string(v);
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), plain, 1,
                                 plain ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

static int node(yaml_emitter_t *em, json_object *o, int depth)
{
    yaml_event_t ev;
    if (depth > 64) {
        return scalar(em, "...", 1);
    }
    switch (json_object_get_type(o)) {
    case json_type_object:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev)) {
            return 0;
        }
        json_object_object_foreach(o, k, v)
        {
            if (!scalar(em, k, 1) || !node(em, v, depth + 1)) {
                return 0;
            }
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    case json_type_array:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev)) {
            return 0;
        }
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            if (!node(em, json_object_array_get_idx(o, i), depth + 1)) {
                return 0;
            }
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    case json_type_null: return scalar(em, "null", 0);
    case json_type_string: return scalar(em, json_object_get_string(o), 1);
    default: return scalar(em, json_object_to_json_string(o), 0); /* numbers, booleans */
    }
}

int cli_print_yaml(json_object *root, FILE *f)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em)) {
        return HD_ENOMEM;
    }
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    int ok = 1;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && node(&em, root, 0);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    return ok ? HD_OK : HD_EIO;
}
