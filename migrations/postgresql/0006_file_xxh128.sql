-- 0006_file_xxh128 (PostgreSQL): a fast whole-file checksum for reads; see
-- ../0006_file_xxh128.sql.
ALTER TABLE files ADD COLUMN xxh128 BYTEA;
