-- 0003_transforms (PostgreSQL): the same weights in another layout; see
-- ../0003_transforms.sql.

ALTER TABLE objects ADD COLUMN transform TEXT;

CREATE TABLE tensor_moments (
	object_id BIGINT PRIMARY KEY REFERENCES objects(id),
	nelem     BIGINT NOT NULL,
	dtype     BIGINT NOT NULL,
	shape     TEXT NOT NULL,
	sum       DOUBLE PRECISION NOT NULL,
	sumsq     DOUBLE PRECISION NOT NULL
);
CREATE INDEX tensor_moments_nelem ON tensor_moments(nelem);
