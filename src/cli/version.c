#include <curl/curl.h>
#include <json-c/json_c_version.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "cli/commands.h"

int hd_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: herald version\n\nPrints the version, build options and library versions.");
        return 0;
    }
    printf("herald %s\n", HD_VERSION);
    printf("build: %s%s\n",
#ifdef __OPTIMIZE__
           "optimized",
#else
           "debug",
#endif
#if defined(__SANITIZE_ADDRESS__)
           " asan+ubsan"
#else
           ""
#endif
    );
    printf("stores: sqlite\n");
    printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
    printf("libmicrohttpd %s\n", MHD_get_version());
    printf("json-c %s\n", json_c_version());
    printf("sqlite %s\n", sqlite3_libversion());
    printf("libyaml %s\n", yaml_get_version_string());
    printf("openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
    return 0;
}
