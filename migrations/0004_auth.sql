-- 0004_auth: access tokens, private repos, repo types (issue 4).
--
-- A token is "hf_" + 34 base62 characters; only its SHA-256 is stored, so
-- a copy of the index does not leak usable tokens.  scope is what it may
-- do ('read' or 'write'; write implies read), namespace the repo namespace
-- it is limited to (NULL: every namespace).  A revoked token stays listed
-- and is refused.
CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	hash       BLOB NOT NULL UNIQUE,	-- SHA-256 of the whole token
	scope      TEXT NOT NULL CHECK (scope IN ('read', 'write')),
	namespace  TEXT,			-- NULL: all namespaces
	created_at INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0
);

-- A private repo is visible only to tokens that may read its namespace.
-- type is what the hub calls the repo type: 'model' or 'dataset' (a name
-- is one or the other).
ALTER TABLE repos ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repos ADD COLUMN type TEXT NOT NULL DEFAULT 'model';
