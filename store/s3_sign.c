/*
 * store/s3_sign.c - AWS Signature Version 4 (see s3_sign.h).
 */
#include "store/s3_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/error.h"
#include "common/hash.h"

void s3_amz_date(char out[S3_AMZ_DATE_LEN], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, S3_AMZ_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

static int grow(char **buf, size_t *len, size_t *cap, size_t more)
{
	if (*len + more + 1 > *cap) {
		size_t c = *cap ? *cap : 256;
		char *p;

		while (c < *len + more + 1)
			c *= 2;
		p = realloc(*buf, c);
		if (!p)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		*buf = p;
		*cap = c;
	}
	return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	int rc = grow(buf, len, cap, n);

	if (!rc) {
		memcpy(*buf + *len, s, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
	return rc;
}

static int appends(char **buf, size_t *len, size_t *cap, const char *s)
{
	return append(buf, len, cap, s, strlen(s));
}

int s3_uri_encode(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
		  int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = grow(buf, len, cap, 3 * n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char *o = *buf + *len;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
			o[0] = (char)c;
			*len += 1;
		} else {
			o[0] = '%';
			o[1] = hex[c >> 4];
			o[2] = hex[c & 15];
			*len += 3;
		}
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* an encoded query parameter, "name=value", for sorting */
struct enc {
	char *s;
	size_t len, cap;
};

static int cmp_enc(const void *a, const void *b)
{
	return strcmp(((const struct enc *)a)->s, ((const struct enc *)b)->s);
}

/* a header to sign: lowercase name, trimmed value with runs of spaces
 * folded to one */
struct hdr {
	char *name;
	const char *value;
};

static int cmp_hdr(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static int append_value(char **buf, size_t *len, size_t *cap, const char *v)
{
	int rc = 0, space = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; !rc && *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space)
			rc = append(buf, len, cap, " ", 1);
		space = 0;
		if (!rc)
			rc = append(buf, len, cap, v, 1);
	}
	return rc;
}

/* The canonical request and, in *signed_out, the signed header list. */
static int canonical(char **out, char **signed_out, const struct s3_sign_req *r)
{
	struct enc *q = calloc(r->nquery + 1, sizeof(*q));
	struct hdr *h = calloc(r->nheaders + 1, sizeof(*h));
	char *buf = NULL, *sh = NULL;
	size_t len = 0, cap = 0, shlen = 0, shcap = 0;
	int rc = 0;

	if (!q || !h) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = appends(&buf, &len, &cap, r->method);
	if (!rc)
		rc = append(&buf, &len, &cap, "\n", 1);
	if (!rc)
		rc = s3_uri_encode(&buf, &len, &cap, r->path, strlen(r->path), 1);
	if (!rc)
		rc = append(&buf, &len, &cap, "\n", 1);
	for (size_t i = 0; !rc && i < r->nquery; i++) {
		rc = s3_uri_encode(&q[i].s, &q[i].len, &q[i].cap, r->query[i].name,
				   strlen(r->query[i].name), 0);
		if (!rc)
			rc = append(&q[i].s, &q[i].len, &q[i].cap, "=", 1);
		if (!rc)
			rc = s3_uri_encode(&q[i].s, &q[i].len, &q[i].cap, r->query[i].value,
					   strlen(r->query[i].value), 0);
	}
	if (rc)
		goto out;
	qsort(q, r->nquery, sizeof(*q), cmp_enc);
	for (size_t i = 0; !rc && i < r->nquery; i++) {
		if (i)
			rc = append(&buf, &len, &cap, "&", 1);
		if (!rc)
			rc = append(&buf, &len, &cap, q[i].s, q[i].len);
	}
	if (!rc)
		rc = append(&buf, &len, &cap, "\n", 1);
	for (size_t i = 0; !rc && i < r->nheaders; i++) {
		h[i].name = strdup(r->headers[i].name);
		h[i].value = r->headers[i].value;
		if (!h[i].name)
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
		else
			for (char *c = h[i].name; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
	}
	if (rc)
		goto out;
	qsort(h, r->nheaders, sizeof(*h), cmp_hdr);
	for (size_t i = 0; !rc && i < r->nheaders; i++) {
		rc = appends(&buf, &len, &cap, h[i].name);
		if (!rc)
			rc = append(&buf, &len, &cap, ":", 1);
		if (!rc)
			rc = append_value(&buf, &len, &cap, h[i].value);
		if (!rc)
			rc = append(&buf, &len, &cap, "\n", 1);
		if (!rc && i)
			rc = append(&sh, &shlen, &shcap, ";", 1);
		if (!rc)
			rc = appends(&sh, &shlen, &shcap, h[i].name);
	}
	if (!rc)
		rc = append(&buf, &len, &cap, "\n", 1);
	if (!rc)
		rc = appends(&buf, &len, &cap, sh ? sh : "");
	if (!rc)
		rc = append(&buf, &len, &cap, "\n", 1);
	if (!rc)
		rc = appends(&buf, &len, &cap, r->payload_hash);
out:
	for (size_t i = 0; q && i < r->nquery; i++)
		free(q[i].s);
	for (size_t i = 0; h && i < r->nheaders; i++)
		free(h[i].name);
	free(q);
	free(h);
	if (rc) {
		free(buf);
		free(sh);
		return rc;
	}
	*out = buf;
	if (signed_out)
		*signed_out = sh;
	else
		free(sh);
	return 0;
}

int s3_sign_canonical(char **out, const struct s3_sign_req *r)
{
	return canonical(out, NULL, r);
}

static void hmac(uint8_t out[32], const void *key, size_t klen, const char *msg)
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

int s3_sign(char **out, const struct s3_sign_req *r, const struct s3_sign_key *k,
	    const char *amz_date)
{
	char *creq = NULL, *sh = NULL, *sts = NULL, *kdate_key = NULL, date[9];
	char creq_hex[HZ_SHA256_HEX], sig_hex[HZ_SHA256_HEX];
	uint8_t digest[HZ_SHA256_LEN], kd[32], kr[32], ks[32], kk[32], sig[32];
	int rc, n;

	*out = NULL;
	rc = canonical(&creq, &sh, r);
	if (rc)
		return rc;
	snprintf(date, sizeof(date), "%.8s", amz_date);
	hz_sha256(digest, creq, strlen(creq));
	hz_hex(creq_hex, digest, sizeof(digest));
	if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
		     k->region, k->service, creq_hex) < 0 ||
	    asprintf(&kdate_key, "AWS4%s", k->secret_key) < 0) {
		sts = kdate_key = NULL;
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	hmac(kd, kdate_key, strlen(kdate_key), date);
	hmac(kr, kd, sizeof(kd), k->region);
	hmac(ks, kr, sizeof(kr), k->service);
	hmac(kk, ks, sizeof(ks), "aws4_request");
	hmac(sig, kk, sizeof(kk), sts);
	hz_hex(sig_hex, sig, sizeof(sig));
	n = asprintf(out, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
		     "SignedHeaders=%s, Signature=%s", k->access_key, date, k->region,
		     k->service, sh ? sh : "", sig_hex);
	if (n < 0) {
		*out = NULL;
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	}
out:
	if (kdate_key)
		memset(kdate_key, 0, strlen(kdate_key));
	free(kdate_key);
	free(creq);
	free(sh);
	free(sts);
	return rc;
}
