-- 0003_transforms: the same weights in another layout.
--
-- A tensor equal (or nearly) to a stored tensor of another name with its
-- axes permuted (a reconversion: tflite OHWI kernels as tfjs HWIO) is stored
-- as XOR-delta blocks against that base transposed: objects.transform holds
-- {"perm": [...], "base_shape": [...]} and its blocks name the base object
-- with base_raw_off = -1 (the whole transposed base, not one of its blocks).
-- tensor_moments indexes stored float tensors by element count and value
-- moments, which a permutation does not change, to find such bases.

ALTER TABLE objects ADD COLUMN transform TEXT;

CREATE TABLE tensor_moments (
	object_id INTEGER PRIMARY KEY REFERENCES objects(id),
	nelem     INTEGER NOT NULL,
	dtype     INTEGER NOT NULL,
	shape     TEXT NOT NULL,	-- JSON array
	sum       REAL NOT NULL,	-- of the finite values
	sumsq     REAL NOT NULL
);
CREATE INDEX tensor_moments_nelem ON tensor_moments(nelem);
