/*
 * daemon/cmd.h - the commands that live in their own files.
 */
#ifndef HZ_DAEMON_CMD_H
#define HZ_DAEMON_CMD_H

#define HUBZIP_VERSION "0.1.0"

/* `serve`: store_dir is --store or $HUBZIP_STORE when store_explicit,
 * else the default (a config file's `store` then wins). */
int cmd_serve(const char *store_dir, int store_explicit, int argc, char **argv);
/* `token create|list|revoke`. */
int cmd_token(const char *store_dir, int argc, char **argv);
/* `stats [REPO] [--json]` (daemon/stats.c). */
int cmd_stats(const char *store_dir, int argc, char **argv);
/* `push|pull URL REPO[@REV] DIR`: the HTTP client; argv[0] is the command. */
int cmd_push_pull(int argc, char **argv);

#endif
