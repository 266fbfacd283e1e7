/* setup.c - `herald setup <sink>`. The Elasticsearch and Kibana installers come
 * with the native ELASTICSEARCH channel (issue 3) and the dashboards (issue 6). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

int hd_cmd_setup(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fputs("usage: herald setup elasticsearch --url URL [--index PATTERN] [--dry-run]\n"
              "       herald setup kibana --url URL\n",
              f);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "elasticsearch") != 0 && strcmp(argv[1], "kibana") != 0) {
        fprintf(stderr, "herald setup: unknown target '%s' (known: elasticsearch, kibana)\n", argv[1]);
        return 2;
    }
    fprintf(stderr, "herald setup %s: not available in this build yet\n", argv[1]);
    return 1;
}
