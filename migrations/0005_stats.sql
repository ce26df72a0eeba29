-- 0005_stats: the accounting cache and the ingest history (issue 5).
--
-- The accounting of docs/format.md "Accounting" is computed by one scan of
-- the index and cached here for the store generation it was computed at.
-- Triggers bump stats_state.generation in the transaction of every change
-- that can move a number: a revision inserted or deleted, a repo created,
-- deleted or made private/public, a family or membership changed, a pack
-- inserted or deleted (gc).  The cache is valid while cached_generation
-- equals generation.  The cache tables carry no foreign keys: deleting a
-- repo must not be blocked by them (the generation makes them stale).

CREATE TABLE stats_state (
	id                INTEGER PRIMARY KEY CHECK (id = 1),
	generation        INTEGER NOT NULL,
	cached_generation INTEGER NOT NULL,	-- -1: nothing cached
	computed_at       INTEGER NOT NULL	-- unix seconds of the cached numbers
);
INSERT INTO stats_state(id, generation, cached_generation, computed_at) VALUES (1, 1, -1, 0);

-- Byte columns, at every level (the shares of docs/format.md):
--   logical_bytes  file sizes over the (revision, path) entries
--   file_bytes     share of the distinct files' bytes
--   object_bytes   share of the distinct live objects' bytes
--   physical_bytes share of their encoded bytes
--   delta_bytes    share of what their delta blocks saved
-- Count columns are within the scope: files (entries), unique_files,
-- tensors (of the distinct files), unique_tensors.
CREATE TABLE stats_revisions (
	revision_id    INTEGER PRIMARY KEY,
	repo_id        INTEGER NOT NULL,
	logical_bytes  INTEGER NOT NULL,
	file_bytes     INTEGER NOT NULL,
	object_bytes   INTEGER NOT NULL,
	physical_bytes INTEGER NOT NULL,
	delta_bytes    INTEGER NOT NULL,
	files          INTEGER NOT NULL,
	unique_files   INTEGER NOT NULL,
	tensors        INTEGER NOT NULL,
	unique_tensors INTEGER NOT NULL
);
CREATE INDEX stats_revisions_repo ON stats_revisions(repo_id);

CREATE TABLE stats_repos (
	repo_id         INTEGER PRIMARY KEY,
	logical_bytes   INTEGER NOT NULL,
	file_bytes      INTEGER NOT NULL,
	object_bytes    INTEGER NOT NULL,
	physical_bytes  INTEGER NOT NULL,
	delta_bytes     INTEGER NOT NULL,
	exclusive_bytes INTEGER NOT NULL,	-- encoded bytes of objects only this repo needs
	revisions       INTEGER NOT NULL,
	files           INTEGER NOT NULL,
	unique_files    INTEGER NOT NULL,
	tensors         INTEGER NOT NULL,
	unique_tensors  INTEGER NOT NULL
);
CREATE INDEX stats_repos_logical ON stats_repos(logical_bytes DESC);

-- Per family, what does not add up over its members (the bytes do).
CREATE TABLE stats_families (
	family_id      INTEGER PRIMARY KEY,
	unique_files   INTEGER NOT NULL,
	tensors        INTEGER NOT NULL,
	unique_tensors INTEGER NOT NULL
);

-- The store as a whole (one row, id 1).
CREATE TABLE stats_totals (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	logical_bytes  INTEGER NOT NULL,
	file_bytes     INTEGER NOT NULL,	-- the distinct files' bytes
	object_bytes   INTEGER NOT NULL,	-- the distinct live objects' bytes
	physical_bytes INTEGER NOT NULL,
	delta_bytes    INTEGER NOT NULL,
	repos          INTEGER NOT NULL,
	revisions      INTEGER NOT NULL,
	families       INTEGER NOT NULL,
	files          INTEGER NOT NULL,
	unique_files   INTEGER NOT NULL,
	tensors        INTEGER NOT NULL,
	unique_tensors INTEGER NOT NULL,
	objects        INTEGER NOT NULL
);

CREATE TRIGGER stats_gen_revisions_ins AFTER INSERT ON revisions
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_revisions_del AFTER DELETE ON revisions
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_repos_ins AFTER INSERT ON repos
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_repos_del AFTER DELETE ON repos
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_repos_upd AFTER UPDATE ON repos
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_families_ins AFTER INSERT ON families
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_families_del AFTER DELETE ON families
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_members_ins AFTER INSERT ON repo_families
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_members_del AFTER DELETE ON repo_families
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_members_upd AFTER UPDATE ON repo_families
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_packs_ins AFTER INSERT ON packs
BEGIN UPDATE stats_state SET generation = generation + 1; END;
CREATE TRIGGER stats_gen_packs_del AFTER DELETE ON packs
BEGIN UPDATE stats_state SET generation = generation + 1; END;

-- One row per committed ingest session, inserted in its transaction.
-- repo_id and repo name the repo at the time; the row stays when the repo
-- is deleted (a reader matches both to tell a later repo of the same id).
CREATE TABLE ingest_history (
	id             INTEGER PRIMARY KEY,
	time           INTEGER NOT NULL,	-- unix seconds of the commit
	repo_id        INTEGER NOT NULL,
	repo           TEXT NOT NULL,
	commit_id      TEXT NOT NULL,		-- 40 hex digits
	source         TEXT NOT NULL CHECK (source IN ('cli', 'http')),
	logical_bytes  INTEGER NOT NULL,	-- the new revision's tree
	physical_bytes INTEGER NOT NULL,	-- encoded bytes of the objects it inserted
	seconds        REAL NOT NULL		-- the session's wall time
);
CREATE INDEX ingest_history_time ON ingest_history(time);
