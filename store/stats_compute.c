/*
 * store/stats_compute.c - computes the accounting (docs/format.md,
 * "Accounting") by one scan of the index into connection-local tables
 * temp.sx_*, copies it into the cache (main.stats_*) for its generation,
 * and cross-checks it for fsck.
 *
 * The shares: a live file is charged to the repos whose revisions hold
 * it, a live object to the repos holding a file with a segment (or a
 * tensor) of it, or, for a base of delta blocks that no repo holds any
 * more, to the repos holding those deltas.  An item's quantity q, charged
 * to n repos, gives floor(q / n) to each and q mod n more to the repo of
 * lowest id; within a repo its share goes to the oldest revision that
 * needs the item.  Sums over revisions, repos and the store are then
 * exact.
 */
#include "store/store_int.h"
#include "store/stats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* q shared among n repos, the remainder to the first (lowest id) */
#define SHARE(q, n, repo, first) \
	"(" q " / " n " + CASE WHEN " repo " = " first " THEN " q " % " n " ELSE 0 END)"

static const char *const compute_sql[] = {
	"DROP TABLE IF EXISTS sx_rf; DROP TABLE IF EXISTS sx_rfile;"
	" DROP TABLE IF EXISTS sx_file; DROP TABLE IF EXISTS sx_ften;"
	" DROP TABLE IF EXISTS sx_ro0; DROP TABLE IF EXISTS sx_ro;"
	" DROP TABLE IF EXISTS sx_rb; DROP TABLE IF EXISTS sx_need;"
	" DROP TABLE IF EXISTS sx_delta; DROP TABLE IF EXISTS sx_obj;"
	" DROP TABLE IF EXISTS sx_revisions; DROP TABLE IF EXISTS sx_repos;"
	" DROP TABLE IF EXISTS sx_families; DROP TABLE IF EXISTS sx_totals;",
	/* the result tables, shaped as the cache */
	"CREATE TEMP TABLE sx_revisions AS SELECT * FROM stats_revisions WHERE 1 = 0;"
	" CREATE TEMP TABLE sx_repos AS SELECT * FROM stats_repos WHERE 1 = 0;"
	" CREATE TEMP TABLE sx_families AS SELECT * FROM stats_families WHERE 1 = 0;"
	" CREATE TEMP TABLE sx_totals AS SELECT * FROM stats_totals WHERE 1 = 0;",
	/* every (revision, path) entry */
	"CREATE TEMP TABLE sx_rf AS SELECT rf.revision_id AS rev, v.repo_id AS repo,"
	" rf.file_id AS file, f.size AS size FROM revision_files rf"
	" JOIN revisions v ON v.id = rf.revision_id JOIN files f ON f.id = rf.file_id",
	/* (repo, file) needed, with the oldest revision that needs it */
	"CREATE TEMP TABLE sx_rfile AS SELECT repo, file, min(rev) AS rev, max(size) AS size"
	" FROM sx_rf GROUP BY repo, file",
	"CREATE INDEX sx_rfile_file ON sx_rfile(file)",
	"CREATE TEMP TABLE sx_file AS SELECT file, count(*) AS n, min(repo) AS first,"
	" max(size) AS size FROM sx_rfile GROUP BY file",
	"CREATE TEMP TABLE sx_ften AS SELECT t.file_id AS file, count(*) AS nt"
	" FROM tensors t WHERE t.file_id IN (SELECT file FROM sx_file)"
	" GROUP BY t.file_id",
	/* (repo, object) needed directly */
	"CREATE TEMP TABLE sx_ro0 AS SELECT repo, obj, min(rev) AS rev FROM ("
	" SELECT rp.repo AS repo, sg.object_id AS obj, rp.rev AS rev FROM sx_rfile rp"
	"  JOIN segments sg ON sg.file_id = rp.file"
	" UNION ALL SELECT rp.repo, t.object_id, rp.rev FROM sx_rfile rp"
	"  JOIN tensors t ON t.file_id = rp.file) AS u GROUP BY repo, obj",
	/* delta objects: their bases and what their delta blocks saved */
	"CREATE TEMP TABLE sx_delta AS SELECT b.object_id AS obj, b.base_object_id AS base,"
	" CAST(sum(b.plain_len - b.enc_len) AS BIGINT) AS d FROM objects o"
	" JOIN blocks b ON b.object_id = o.id"
	" WHERE o.base_object_id IS NOT NULL AND b.base_object_id IS NOT NULL"
	" GROUP BY b.object_id, b.base_object_id",
	"CREATE INDEX sx_ro0_obj ON sx_ro0(obj)",
	/* (repo, base) of the delta objects a repo needs */
	"CREATE TEMP TABLE sx_rb AS SELECT r.repo AS repo, d.base AS obj, min(r.rev) AS rev"
	" FROM sx_ro0 r JOIN sx_delta d ON d.obj = r.obj GROUP BY r.repo, d.base",
	/* who is charged: the repos holding an object; a base no repo holds
	 * any more, the repos whose deltas need it */
	"CREATE TEMP TABLE sx_ro AS SELECT repo, obj, rev FROM sx_ro0 UNION ALL"
	" SELECT repo, obj, rev FROM sx_rb b WHERE NOT EXISTS (SELECT 1 FROM sx_ro0 h"
	"  WHERE h.obj = b.obj)",
	/* how many repos need an object at all (exclusive bytes) */
	"CREATE TEMP TABLE sx_need AS SELECT obj, count(*) AS n, min(repo) AS repo FROM"
	" (SELECT repo, obj FROM sx_ro0 UNION SELECT repo, obj FROM sx_rb) AS u GROUP BY obj",
	"CREATE TEMP TABLE sx_obj AS SELECT r.obj AS obj, count(*) AS n, min(r.repo) AS first,"
	" o.size AS size, o.stored_size AS stored,"
	" CAST(coalesce((SELECT sum(d) FROM sx_delta d WHERE d.obj = r.obj), 0) AS BIGINT) AS d"
	" FROM sx_ro r JOIN objects o ON o.id = r.obj GROUP BY r.obj, o.size, o.stored_size",
	/* per revision */
	"INSERT INTO sx_revisions SELECT v.id, v.repo_id, coalesce(a.logical, 0),"
	" coalesce(b.fb, 0), coalesce(c.ob, 0), coalesce(c.pb, 0), coalesce(c.db, 0),"
	" coalesce(a.files, 0), coalesce(a.ufiles, 0), coalesce(t.nt, 0), coalesce(u.ut, 0)"
	" FROM revisions v"
	" LEFT JOIN (SELECT rev, sum(size) AS logical, count(*) AS files,"
	"  count(DISTINCT file) AS ufiles FROM sx_rf GROUP BY rev) a ON a.rev = v.id"
	" LEFT JOIN (SELECT rp.rev AS rev, sum(" SHARE("f.size", "f.n", "rp.repo", "f.first") ")"
	"  AS fb FROM sx_rfile rp JOIN sx_file f ON f.file = rp.file GROUP BY rp.rev) b"
	"  ON b.rev = v.id"
	" LEFT JOIN (SELECT r.rev AS rev,"
	"  sum(" SHARE("o.size", "o.n", "r.repo", "o.first") ") AS ob,"
	"  sum(" SHARE("o.stored", "o.n", "r.repo", "o.first") ") AS pb,"
	"  sum(" SHARE("o.d", "o.n", "r.repo", "o.first") ") AS db"
	"  FROM sx_ro r JOIN sx_obj o ON o.obj = r.obj GROUP BY r.rev) c ON c.rev = v.id"
	" LEFT JOIN (SELECT d.rev AS rev, sum(coalesce(ft.nt, 0)) AS nt FROM"
	"  (SELECT DISTINCT rev, file FROM sx_rf) d JOIN sx_ften ft ON ft.file = d.file"
	"  GROUP BY d.rev) t ON t.rev = v.id"
	" LEFT JOIN (SELECT d.rev AS rev, count(DISTINCT tt.object_id) AS ut FROM"
	"  (SELECT DISTINCT rev, file FROM sx_rf) d JOIN tensors tt"
	"  ON tt.file_id = d.file GROUP BY d.rev) u ON u.rev = v.id",
	/* per repo */
	"INSERT INTO sx_repos SELECT r.id, coalesce(s.logical, 0), coalesce(s.fb, 0),"
	" coalesce(s.ob, 0), coalesce(s.pb, 0), coalesce(s.db, 0), coalesce(x.ex, 0),"
	" coalesce(s.revisions, 0), coalesce(s.files, 0), coalesce(f.uf, 0), coalesce(f.nt, 0),"
	" coalesce(u.ut, 0) FROM repos r"
	" LEFT JOIN (SELECT repo_id, sum(logical_bytes) AS logical, sum(file_bytes) AS fb,"
	"  sum(object_bytes) AS ob, sum(physical_bytes) AS pb, sum(delta_bytes) AS db,"
	"  count(*) AS revisions, sum(files) AS files FROM sx_revisions GROUP BY repo_id) s"
	"  ON s.repo_id = r.id"
	" LEFT JOIN (SELECT rp.repo AS repo, count(*) AS uf, sum(coalesce(ft.nt, 0)) AS nt"
	"  FROM sx_rfile rp LEFT JOIN sx_ften ft ON ft.file = rp.file"
	"  GROUP BY rp.repo) f ON f.repo = r.id"
	" LEFT JOIN (SELECT rp.repo AS repo, count(DISTINCT t.object_id) AS ut"
	"  FROM sx_rfile rp JOIN tensors t ON t.file_id = rp.file GROUP BY rp.repo) u"
	"  ON u.repo = r.id"
	" LEFT JOIN (SELECT nd.repo AS repo, sum(o.stored) AS ex FROM sx_need nd"
	"  JOIN sx_obj o ON o.obj = nd.obj WHERE nd.n = 1 GROUP BY nd.repo) x"
	"  ON x.repo = r.id",
	/* per family: what does not add up over the members */
	"INSERT INTO sx_families SELECT fam.id, coalesce(f.uf, 0), coalesce(t.nt, 0),"
	" coalesce(u.ut, 0) FROM (SELECT DISTINCT family_id AS id FROM repo_families) fam"
	" LEFT JOIN (SELECT m.family_id AS fid, count(DISTINCT rp.file) AS uf"
	"  FROM repo_families m JOIN sx_rfile rp ON rp.repo = m.repo_id"
	"  GROUP BY m.family_id) f ON f.fid = fam.id"
	" LEFT JOIN (SELECT d.fid AS fid, sum(coalesce(ft.nt, 0)) AS nt FROM"
	"  (SELECT DISTINCT m.family_id AS fid, rp.file AS file FROM repo_families m"
	"   JOIN sx_rfile rp ON rp.repo = m.repo_id) d"
	"  JOIN sx_ften ft ON ft.file = d.file GROUP BY d.fid) t ON t.fid = fam.id"
	" LEFT JOIN (SELECT d.fid AS fid, count(DISTINCT tt.object_id) AS ut FROM"
	"  (SELECT DISTINCT m.family_id AS fid, rp.file AS file FROM repo_families m"
	"   JOIN sx_rfile rp ON rp.repo = m.repo_id) d"
	"  JOIN tensors tt ON tt.file_id = d.file GROUP BY d.fid) u ON u.fid = fam.id",
	/* the store */
	"INSERT INTO sx_totals SELECT 1,"
	" (SELECT coalesce(sum(size), 0) FROM sx_rf),"
	" (SELECT coalesce(sum(size), 0) FROM sx_file),"
	" (SELECT coalesce(sum(size), 0) FROM sx_obj),"
	" (SELECT coalesce(sum(stored), 0) FROM sx_obj),"
	" (SELECT coalesce(sum(d), 0) FROM sx_obj),"
	" (SELECT count(*) FROM repos), (SELECT count(*) FROM revisions),"
	" (SELECT count(DISTINCT family_id) FROM repo_families),"
	" (SELECT count(*) FROM sx_rf), (SELECT count(*) FROM sx_file),"
	" (SELECT coalesce(sum(nt), 0) FROM sx_ften),"
	" (SELECT count(DISTINCT t.object_id) FROM sx_file f"
	"  JOIN tensors t ON t.file_id = f.file),"
	" (SELECT count(*) FROM sx_obj)",
	/* the working tables are no longer needed */
	"DROP TABLE sx_rf; DROP TABLE sx_rfile; DROP TABLE sx_file;"
	" DROP TABLE sx_ften; DROP TABLE sx_ro0; DROP TABLE sx_ro;"
	" DROP TABLE sx_rb; DROP TABLE sx_need;"
	" DROP TABLE sx_delta; DROP TABLE sx_obj;",
};

int stats_state(struct store *s, int64_t *generation, int64_t *cached, int64_t *at)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT generation, cached_generation, computed_at"
				    " FROM stats_state WHERE id = 1");

	if (rc)
		return rc;
	if (db_step(st) == DB_ROW) {
		*generation = db_column_int64(st, 0);
		if (cached)
			*cached = db_column_int64(st, 1);
		if (at)
			*at = db_column_int64(st, 2);
	} else {
		rc = db_error(s, "cannot read the store generation");
	}
	db_finalize(st);
	return rc;
}

int stats_compute(struct store *s)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(compute_sql) / sizeof(compute_sql[0]); i++)
		rc = db_exec(s, compute_sql[i]);
	return rc;
}

int stats_persist(struct store *s, int64_t generation, int64_t now)
{
	int64_t gen = 0, cached = 0;
	char sql[160];
	int rc;

	/* a reader does not wait for a writer to cache: if the index is busy
	 * (an ingest committing, a gc), the next reader computes again */
	rc = db_try_begin(s);
	if (rc)
		return rc;
	rc = stats_state(s, &gen, &cached, NULL);
	if (rc || gen != generation || cached == generation)
		goto out; /* moved on, or stored by someone else: keep theirs */
	rc = db_exec(s, "DELETE FROM stats_revisions; DELETE FROM stats_repos;"
			" DELETE FROM stats_families; DELETE FROM stats_totals;"
			" INSERT INTO stats_revisions SELECT * FROM sx_revisions;"
			" INSERT INTO stats_repos SELECT * FROM sx_repos;"
			" INSERT INTO stats_families SELECT * FROM sx_families;"
			" INSERT INTO stats_totals SELECT * FROM sx_totals;");
	if (!rc) {
		snprintf(sql, sizeof(sql), "UPDATE stats_state SET cached_generation = %lld,"
			 " computed_at = %lld WHERE id = 1", (long long)generation, (long long)now);
		rc = db_exec(s, sql);
	}
	if (!rc)
		return db_commit(s);
out:
	db_rollback(s);
	return rc;
}

/* ---- fsck ---------------------------------------------------------------- */

struct check {
	struct store *s;
	void (*report)(void *payload, const char *line);
	void *payload;
	uint64_t problems;
};

static void check_problem(struct check *c, const char *line)
{
	c->problems++;
	if (c->report)
		c->report(c->payload, line);
}

/* Runs sql, which yields one row of integers; NULLs read as 0. */
static int row_i64(struct store *s, const char *sql, int64_t *out, int n)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, sql);

	if (rc)
		return rc;
	if (db_step(st) == DB_ROW) {
		for (int i = 0; i < n; i++)
			out[i] = db_column_int64(st, i);
	} else {
		rc = db_error(s, "cannot check the accounting");
	}
	db_finalize(st);
	return rc;
}

/* The cache of the current generation against the recomputation. */
static int check_cache(struct check *c)
{
	static const char *const tables[][2] = {
		{ "stats_revisions", "sx_revisions" }, { "stats_repos", "sx_repos" },
		{ "stats_families", "sx_families" }, { "stats_totals", "sx_totals" },
	};
	char sql[512], line[256];
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(tables) / sizeof(tables[0]); i++) {
		int64_t n[2] = { 0, 0 };

		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT"
			 " SELECT * FROM %s) AS a), (SELECT count(*) FROM (SELECT * FROM %s"
			 " EXCEPT SELECT * FROM %s) AS b)",
			 tables[i][0], tables[i][1], tables[i][1], tables[i][0]);
		rc = row_i64(c->s, sql, n, 2);
		if (!rc && (n[0] || n[1])) {
			snprintf(line, sizeof(line),
				 "accounting: the cached %s differ from a recomputation"
				 " (%lld rows stale, %lld missing)", tables[i][0],
				 (long long)n[0], (long long)n[1]);
			check_problem(c, line);
		}
	}
	return rc;
}

/* The computed totals against direct sums, and the levels against each
 * other. */
static int check_sums(struct check *c)
{
	int64_t t[6] = { 0 }, d[2] = { 0 }, r[6] = { 0 }, v[6] = { 0 }, bad[1] = { 0 }, pk[2] = { 0 };
	char line[512];
	int rc;

	rc = row_i64(c->s, "SELECT logical_bytes, file_bytes, object_bytes, physical_bytes,"
			   " delta_bytes, files FROM sx_totals", t, 6);
	/* direct: every tree entry's size; the block lengths of the live
	 * objects (segments and tensors of live files, and their bases) */
	if (!rc)
		rc = row_i64(c->s,
			"WITH lf AS (SELECT DISTINCT file_id FROM revision_files),"
			" ld AS (SELECT object_id FROM segments WHERE file_id IN (SELECT file_id FROM lf)"
			"  UNION SELECT object_id FROM tensors WHERE file_id IN (SELECT file_id FROM lf)),"
			" lo AS (SELECT object_id FROM ld UNION SELECT b.base_object_id FROM blocks b"
			"  WHERE b.object_id IN (SELECT object_id FROM ld) AND b.base_object_id IS NOT NULL)"
			" SELECT (SELECT coalesce(sum(f.size), 0) FROM revision_files rf"
			"  JOIN files f ON f.id = rf.file_id),"
			" (SELECT coalesce(sum(enc_len), 0) FROM blocks WHERE object_id IN (SELECT object_id FROM lo))",
			d, 2);
	if (!rc)
		rc = row_i64(c->s, "SELECT coalesce(sum(logical_bytes), 0), coalesce(sum(file_bytes), 0),"
				   " coalesce(sum(object_bytes), 0), coalesce(sum(physical_bytes), 0),"
				   " coalesce(sum(delta_bytes), 0), coalesce(sum(files), 0)"
				   " FROM sx_repos", r, 6);
	if (!rc)
		rc = row_i64(c->s, "SELECT coalesce(sum(logical_bytes), 0), coalesce(sum(file_bytes), 0),"
				   " coalesce(sum(object_bytes), 0), coalesce(sum(physical_bytes), 0),"
				   " coalesce(sum(delta_bytes), 0), coalesce(sum(files), 0)"
				   " FROM sx_revisions", v, 6);
	if (!rc)
		rc = row_i64(c->s, "SELECT count(*) FROM sx_repos p JOIN (SELECT repo_id,"
				   " sum(logical_bytes) AS l, sum(physical_bytes) AS ph FROM"
				   " sx_revisions GROUP BY repo_id) q ON q.repo_id = p.repo_id"
				   " WHERE q.l != p.logical_bytes OR q.ph != p.physical_bytes", bad, 1);
	if (!rc)
		rc = row_i64(c->s, "SELECT count(*), coalesce(sum(size), 0) FROM packs", pk, 2);
	if (rc)
		return rc;
	if (t[0] != d[0]) {
		snprintf(line, sizeof(line), "accounting: logical bytes %lld, but the trees hold %lld",
			 (long long)t[0], (long long)d[0]);
		check_problem(c, line);
	}
	if (t[3] != d[1]) {
		snprintf(line, sizeof(line),
			 "accounting: physical bytes %lld, but the live objects' blocks hold %lld",
			 (long long)t[3], (long long)d[1]);
		check_problem(c, line);
	}
	for (int i = 0; i < 6; i++) {
		if (r[i] != t[i] || v[i] != t[i]) {
			snprintf(line, sizeof(line),
				 "accounting: column %d: the repos sum to %lld, the revisions to %lld,"
				 " the store has %lld", i, (long long)r[i], (long long)v[i],
				 (long long)t[i]);
			check_problem(c, line);
		}
	}
	if (bad[0]) {
		snprintf(line, sizeof(line),
			 "accounting: %lld repos differ from the sum of their revisions",
			 (long long)bad[0]);
		check_problem(c, line);
	}
	if (pk[1] < t[3] + PACK_HDR * pk[0]) {
		snprintf(line, sizeof(line),
			 "accounting: packs hold %lld bytes, less than %lld physical bytes and"
			 " %lld pack headers", (long long)pk[1], (long long)t[3], (long long)pk[0]);
		check_problem(c, line);
	}
	return 0;
}

int stats_check(struct store *s, void (*report)(void *payload, const char *line),
		void *payload, uint64_t *problems)
{
	struct check c = { .s = s, .report = report, .payload = payload };
	int64_t gen = 0, cached = -1;
	int rc = db_begin_read(s);

	if (rc)
		return rc;
	rc = stats_state(s, &gen, &cached, NULL);
	if (!rc)
		rc = stats_compute(s);
	if (!rc && cached == gen)
		rc = check_cache(&c);
	if (!rc)
		rc = check_sums(&c);
	db_commit(s);
	*problems += c.problems;
	return rc;
}
