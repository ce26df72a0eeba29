/*
 * api/stats_int.h - the storage statistics routes (api/stats.c; docs/api.md
 * "Storage statistics").  GET /api/stats and /api/v1/stats are
 * native_stats (api_int.h).
 */
#ifndef HZ_API_STATS_INT_H
#define HZ_API_STATS_INT_H

struct api_req;

/* GET /api/stats/repos/{ns}/{name}: RepoStats (404 RepoNotFound as every
 * repo route). */
int stats_repo(struct api_req *req);
/* GET /api/stats/families/{id}: FamilyStats (404 FamilyNotFound). */
int stats_family(struct api_req *req);
/* GET /api/stats/history: the ingest history. */
int stats_history(struct api_req *req);

#endif
