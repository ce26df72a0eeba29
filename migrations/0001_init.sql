-- 0001_init: the content-addressed store.
--
-- Bytes live in pack files (objects/packs/XX/NAME.pack), as a sequence of
-- independently decodable blocks (delta/delta.h).  An object is a run of
-- bytes named by its SHA-256 (a tensor's data, a safetensors header, a whole
-- non-safetensors file, or the gap bytes between tensors), stored once as
-- blocks.  A file is a sequence of segments, each the whole of one object.
-- A revision is a tree of paths to files; refs name revisions.
-- See docs/format.md.

CREATE TABLE packs (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,	-- 32 hex digits
	size       INTEGER NOT NULL,		-- bytes of the pack file
	created_at INTEGER NOT NULL		-- unix seconds
);

CREATE TABLE objects (
	id          INTEGER PRIMARY KEY,
	sha256      BLOB NOT NULL UNIQUE,	-- of the original bytes
	kind        INTEGER NOT NULL,		-- 1 tensor data, 2 bytes (header, file, gap)
	dtype       INTEGER NOT NULL,		-- common/dtype.h id; 0 for bytes
	size        INTEGER NOT NULL,		-- original bytes
	stored_size INTEGER NOT NULL,		-- sum of its blocks' encoded sizes
	nblocks     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);

CREATE TABLE blocks (
	object_id INTEGER NOT NULL REFERENCES objects(id),
	raw_off   INTEGER NOT NULL,		-- offset of the block's bytes in the object
	raw_len   INTEGER NOT NULL,
	pack_id   INTEGER NOT NULL REFERENCES packs(id),
	pack_off  INTEGER NOT NULL,		-- offset of the block header in the pack
	enc_len   INTEGER NOT NULL,		-- header + payload
	codec     INTEGER NOT NULL,		-- delta codec id
	checksum  INTEGER NOT NULL,		-- XXH3-64 of the original bytes (as int64)
	PRIMARY KEY (object_id, raw_off)
) WITHOUT ROWID;
CREATE INDEX blocks_pack ON blocks(pack_id);

CREATE TABLE files (
	id         INTEGER PRIMARY KEY,
	sha256     BLOB NOT NULL UNIQUE,	-- of the whole file (the hub's LFS oid)
	size       INTEGER NOT NULL,
	format     INTEGER NOT NULL,		-- 0 opaque bytes, 1 safetensors
	created_at INTEGER NOT NULL
);

CREATE TABLE segments (
	file_id   INTEGER NOT NULL REFERENCES files(id),
	file_off  INTEGER NOT NULL,		-- where the object's bytes start in the file
	object_id INTEGER NOT NULL REFERENCES objects(id),
	length    INTEGER NOT NULL,		-- = objects.size, > 0
	role      INTEGER NOT NULL,		-- 1 tensor, 2 header, 3 gap/trailing, 4 whole file
	PRIMARY KEY (file_id, file_off)
) WITHOUT ROWID;
CREATE INDEX segments_object ON segments(object_id);

CREATE TABLE tensors (
	file_id   INTEGER NOT NULL REFERENCES files(id),
	name      TEXT NOT NULL,
	dtype     INTEGER NOT NULL,
	shape     TEXT NOT NULL,		-- JSON array of dims
	file_off  INTEGER NOT NULL,		-- absolute offset of the data
	object_id INTEGER NOT NULL REFERENCES objects(id),
	PRIMARY KEY (file_id, name)
) WITHOUT ROWID;
CREATE INDEX tensors_object ON tensors(object_id);

CREATE TABLE repos (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,	-- "namespace/name"
	created_at INTEGER NOT NULL
);

CREATE TABLE revisions (
	id         INTEGER PRIMARY KEY,
	repo_id    INTEGER NOT NULL REFERENCES repos(id),
	commit_id  TEXT NOT NULL UNIQUE,	-- 40 hex digits
	parent_id  INTEGER REFERENCES revisions(id),
	message    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE INDEX revisions_repo ON revisions(repo_id);

CREATE TABLE refs (
	repo_id     INTEGER NOT NULL REFERENCES repos(id),
	name        TEXT NOT NULL,		-- branch name, e.g. "main"
	revision_id INTEGER NOT NULL REFERENCES revisions(id),
	PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;

CREATE TABLE revision_files (
	revision_id INTEGER NOT NULL REFERENCES revisions(id),
	path        TEXT NOT NULL,
	file_id     INTEGER NOT NULL REFERENCES files(id),
	PRIMARY KEY (revision_id, path)
) WITHOUT ROWID;
CREATE INDEX revision_files_file ON revision_files(file_id);
