/*
 * api/maint_int.h - the daemon's maintenance (api/maint.c): gc every
 * gc_interval seconds, a background scrub (a full fsck) every
 * scrub_interval seconds, and the admin routes that run either on demand
 * and report the last result (docs/api.md, "Maintenance").
 *
 * Two threads, each with its own store handle: gc at normal priority (it
 * briefly holds the lock uploads' lookups wait on), fsck and scrub at the
 * lowest CPU and I/O priority.  Their last results are kept in memory.
 */
#ifndef HZ_API_MAINT_INT_H
#define HZ_API_MAINT_INT_H

struct api_server;
struct api_req;
struct api_maint;
struct metrics_gauges;

/* Starts the threads for srv (srv->cfg.gc_interval, scrub_interval; 0:
 * off, only on demand).  0 or an HZ_E* code. */
int maint_start(struct api_maint **out, struct api_server *srv);
/* Interrupts a running fsck or scrub, waits for a running gc, joins the
 * threads, frees m.  NULL is a no-op. */
void maint_stop(struct api_maint *m);
/* Copies the maintenance figures into g (metrics). */
void maint_gauges(struct api_maint *m, struct metrics_gauges *g);

/* POST /api/admin/fsck, GET /api/admin/fsck, GET /api/admin/scrub,
 * POST /api/admin/gc, GET /api/admin/gc: a write token for every
 * namespace. */
int admin_fsck_post(struct api_req *req);
int admin_fsck_get(struct api_req *req);
int admin_scrub_get(struct api_req *req);
int admin_gc_post(struct api_req *req);
int admin_gc_get(struct api_req *req);

#endif
