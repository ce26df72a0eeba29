/*
 * store/s3_sign.h - AWS Signature Version 4 (HMAC-SHA256 with OpenSSL),
 * as S3 and every S3-compatible store (Ceph RGW, MinIO, Swift's s3api)
 * check it.
 *
 * The signer builds the canonical request from the method, the path, the
 * query parameters and the headers to sign, and the payload hash (64 hex
 * digits of the body's SHA-256, or "UNSIGNED-PAYLOAD"), then the string
 * to sign and the signature:
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * Paths and query parameters are given raw and URI-encoded once here (the
 * S3 rule: '/' kept in paths, every byte but A-Za-z0-9-._~ escaped).
 */
#ifndef HZ_STORE_S3_SIGN_H
#define HZ_STORE_S3_SIGN_H

#include <stddef.h>
#include <stdint.h>

struct s3_pair {
	const char *name, *value;	/* value "" for a bare "?uploads" */
};

struct s3_sign_req {
	const char *method;		/* "GET", "PUT", ... */
	const char *path;		/* raw, starting with '/' */
	const struct s3_pair *query;	/* raw names and values, any order */
	size_t nquery;
	const struct s3_pair *headers;	/* the headers to sign, any case and
					 * order; must hold host and x-amz-date */
	size_t nheaders;
	const char *payload_hash;
};

struct s3_sign_key {
	const char *access_key, *secret_key;
	const char *region, *service;	/* "us-east-1", "s3" */
};

#define S3_AMZ_DATE_LEN 17	/* "20150830T123600Z" and a NUL */
/* The x-amz-date of unix time t. */
void s3_amz_date(char out[S3_AMZ_DATE_LEN], int64_t t);

/*
 * URI-encodes n bytes of s onto the end of the malloc'd string *buf
 * (length *len, capacity *cap), keeping '/' if keep_slash.  0 or
 * HZ_ENOMEM.
 */
int s3_uri_encode(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
		  int keep_slash);

/* The canonical request (malloc'd, in *out) of r: for tests and for
 * messages when a server rejects a signature. */
int s3_sign_canonical(char **out, const struct s3_sign_req *r);

/*
 * The Authorization header value for r at amz_date ("AWS4-HMAC-SHA256
 * Credential=..., SignedHeaders=..., Signature=..."), malloc'd in *out.
 * 0 or HZ_ENOMEM.
 */
int s3_sign(char **out, const struct s3_sign_req *r, const struct s3_sign_key *k,
	    const char *amz_date);

#endif
