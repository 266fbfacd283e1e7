/* metrics_process.c - the process_* families of /metrics, read from /proc.
 *
 * DESIGN: the names and meanings are those of the Prometheus client
 * libraries' process collector (client_golang, client_python), so that
 * dashboards written for any exporter work: CPU from utime+stime of
 * /proc/self/stat, resident and virtual size from the same line, open fds by
 * listing /proc/self/fd, max fds from RLIMIT_NOFILE, start time from the
 * boot time of /proc/stat plus the start tick of /proc/self/stat. Read at
 * every scrape (a few small reads); a value that cannot be read is left out
 * rather than reported as 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"
#include "core/metrics.h"

struct proc_stat {
    double utime_ticks, stime_ticks, start_ticks;
    double vsize, rss_pages;
};

/* Fields of /proc/self/stat after the command name (which may hold spaces
 * and parentheses: the last ')' ends it). */
static int read_self_stat(struct proc_stat *ps)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL) {
        return HD_EIO;
    }
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    if (p == NULL) {
        return HD_EIO;
    }
    /* p + 2 is field 3 (state); utime is 14, stime 15, starttime 22, vsize 23, rss 24. */
    int got = 0;
    p += 2;
    for (int field = 3; *p != '\0' && field <= 24; field++) {
        double v = strtod(p, NULL);
        switch (field) {
        case 14:
            ps->utime_ticks = v;
            got++;
            break;
        case 15:
            ps->stime_ticks = v;
            got++;
            break;
        case 22:
            ps->start_ticks = v;
            got++;
            break;
        case 23:
            ps->vsize = v;
            got++;
            break;
        case 24:
            ps->rss_pages = v;
            got++;
            break;
        default: break;
        }
        p = strchr(p, ' ');
        if (p == NULL) {
            break;
        }
        p++;
    }
    return got == 5 ? HD_OK : HD_EIO;
}

/* Boot time in seconds since the epoch ("btime" of /proc/stat), or -1. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    long n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

static int put_gauge(struct hd_buf *out, const char *name, const char *type, double v)
{
    int rc = hd_metrics_family(out, name, type);
    if (rc == HD_OK) {
        rc = hd_buf_printf(out, "%s %.17g\n", name, v);
    }
    return rc;
}

int hd_metrics_process(struct hd_buf *out)
{
    int rc = HD_OK;
    struct proc_stat ps = {0};
    double tick = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    if (read_self_stat(&ps) == HD_OK && tick > 0) {
        rc = put_gauge(out, "process_cpu_seconds_total", "counter", (ps.utime_ticks + ps.stime_ticks) / tick);
        if (rc == HD_OK) {
            rc = put_gauge(out, "process_resident_memory_bytes", "gauge", ps.rss_pages * page);
        }
        if (rc == HD_OK) {
            rc = put_gauge(out, "process_virtual_memory_bytes", "gauge", ps.vsize);
        }
        double bt = boot_time();
        if (rc == HD_OK && bt > 0) {
            rc = put_gauge(out, "process_start_time_seconds", "gauge", bt + ps.start_ticks / tick);
        }
    }
    long fds = open_fds();
    if (rc == HD_OK && fds >= 0) {
        rc = put_gauge(out, "process_open_fds", "gauge", (double)fds);
    }
    struct rlimit rl;
    if (rc == HD_OK && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rc = put_gauge(out, "process_max_fds", "gauge", (double)rl.rlim_cur);
    }
    return rc;
}
