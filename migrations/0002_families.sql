-- 0002_families: model families and XOR-delta blocks.
--
-- A block coded against a base (delta codec 3) names the base block by
-- (base_object_id, base_raw_off): a block of an object stored without delta
-- (one level), so any block decodes with at most two block reads.
-- plain_len is what the block would cost coded alone: the accounting of the
-- "delta" stage.  An object with delta blocks names its base object.

ALTER TABLE blocks ADD COLUMN base_object_id INTEGER REFERENCES objects(id);
ALTER TABLE blocks ADD COLUMN base_raw_off INTEGER;
ALTER TABLE blocks ADD COLUMN plain_len INTEGER;
ALTER TABLE objects ADD COLUMN base_object_id INTEGER REFERENCES objects(id);
CREATE INDEX objects_base ON objects(base_object_id) WHERE base_object_id IS NOT NULL;

-- A family: models that share trained weights.  A repo (its latest
-- revision with safetensors files) is assigned when ingested: to the family
-- of the stored model it was found to derive from (its base, with the
-- measured similarity), or to a new family it founds.
CREATE TABLE families (
	id         INTEGER PRIMARY KEY,
	created_at INTEGER NOT NULL
);

CREATE TABLE repo_families (
	repo_id      INTEGER PRIMARY KEY REFERENCES repos(id),
	family_id    INTEGER NOT NULL REFERENCES families(id),
	base_repo_id INTEGER REFERENCES repos(id),	-- NULL: founded the family
	score        REAL,				-- similarity to the base, 0..1
	hint         TEXT,				-- base_model / _name_or_path seen, if any
	revision_id  INTEGER REFERENCES revisions(id)	-- the revision it was measured on
);
CREATE INDEX repo_families_family ON repo_families(family_id);

-- base detection looks stored tensors up by name
CREATE INDEX tensors_name ON tensors(name);
