/*
 * Unit tests for api/metrics.c: route classes from the router's patterns,
 * label escaping, and the text format of counters and histograms
 * (cumulative buckets, _sum/_count, HELP and TYPE before every family).
 * tests/integration/87_metrics.sh checks the served page with promtool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/metrics_int.h"
#include "common/error.h"

static void test_route_class(void **state)
{
	static const struct {
		const char *method, *pattern;
		int want;
	} cases[] = {
		{ "GET", ":ns/:name/resolve/:rev/*", METRICS_RESOLVE },
		{ "HEAD", "datasets/:ns/:name/resolve/:rev/*", METRICS_RESOLVE },
		{ "GET", ":ns/:name/raw/:rev/*", METRICS_RAW },
		{ "GET", "api/v1/repos/:ns/:name/files/:rev/*", METRICS_DOWNLOAD },
		{ "GET", "api/lfs/objects/:x/:x", METRICS_DOWNLOAD },
		{ "PUT", "api/v1/repos/:ns/:name/files/:rev/*", METRICS_UPLOAD },
		{ "PUT", "api/lfs/objects/:x/:x", METRICS_UPLOAD },
		{ "POST", "api/v1/repos/:ns/:name/commit/:rev", METRICS_COMMIT },
		{ "POST", "api/models/:ns/:name/commit/:rev", METRICS_COMMIT },
		{ "POST", ":ns/:name.git/info/lfs/objects/batch", METRICS_LFS },
		{ "POST", "datasets/:ns/:name.git/info/lfs/verify", METRICS_LFS },
		{ "GET", "api/v1/repos/:ns/:name/files/:rev", METRICS_API_NATIVE },
		{ "GET", "api/v1/health", METRICS_API_NATIVE },
		{ "POST", "api/v1/repos", METRICS_API_NATIVE },
		{ "GET", "api/models/:ns/:name/tree/:rev/*?", METRICS_API_HUB },
		{ "POST", "api/models/:ns/:name/preupload/:rev", METRICS_API_HUB },
		{ "GET", "api/whoami-v2", METRICS_API_HUB },
		{ "GET", "api/v1/stats", METRICS_STATS },
		{ "GET", "api/stats/repos/:ns/:name", METRICS_STATS },
		{ "GET", "", METRICS_UI },
		{ "GET", "ui/*", METRICS_UI },
		{ "GET", "metrics", METRICS_METRICS },
		{ "GET", NULL, METRICS_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = metrics_route_class(cases[i].method, cases[i].pattern);

		if (got != cases[i].want)
			fail_msg("%s %s: class %s, expected %s", cases[i].method,
				 cases[i].pattern ? cases[i].pattern : "(none)",
				 metrics_route_name(got), metrics_route_name(cases[i].want));
	}
	assert_string_equal(metrics_route_name(METRICS_API_NATIVE), "api_native");
	assert_string_equal(metrics_route_name(-1), "other");
	assert_string_equal(metrics_route_name(METRICS_NROUTES), "other");
}

static void test_escape_label(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(metrics_escape_label(out, sizeof(out), "a\"b\\c\nd"), 0);
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	assert_int_equal(metrics_escape_label(out, sizeof(out), ""), 0);
	assert_string_equal(out, "");
	/* 15 bytes fit in 16, 16 do not; an escape does not fit half */
	assert_int_equal(metrics_escape_label(out, sizeof(out), "123456789012345"), 0);
	assert_int_equal(metrics_escape_label(out, sizeof(out), "1234567890123456"), HZ_EINVAL);
	assert_int_equal(metrics_escape_label(out, sizeof(out), "12345678901234\""), HZ_EINVAL);
}

/* A request that started sec seconds ago. */
static void request(struct metrics *m, int route, unsigned status, double sec, uint64_t sent,
		    uint64_t received)
{
	struct timespec t0;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ns = (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec - (long long)(sec * 1e9);
	t0.tv_sec = (time_t)(ns / 1000000000LL);
	t0.tv_nsec = (long)(ns % 1000000000LL);
	metrics_request_begin(m);
	metrics_request_end(m, route, status, &t0, sent, received);
}

/* The value of the sample line that starts with `series ` (-1: none). */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* Every sample's family was announced by HELP and TYPE lines before it,
 * and counters end in _total. */
static void check_families(const char *text)
{
	char type[128][96], name[96], help[96] = "", kind[16];
	size_t ntypes = 0;

	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		assert_non_null(strchr(p, '\n'));
		if (!strncmp(p, "# HELP ", 7)) {
			assert_int_equal(sscanf(p + 7, "%95s", help), 1);
		} else if (!strncmp(p, "# TYPE ", 7)) {
			assert_int_equal(sscanf(p + 7, "%95s %15s", name, kind), 2);
			assert_string_equal(name, help); /* HELP, then TYPE */
			help[0] = '\0';
			for (size_t i = 0; i < ntypes; i++)
				assert_string_not_equal(type[i], name); /* once each */
			assert_true(ntypes < 128);
			snprintf(type[ntypes++], sizeof(type[0]), "%s", name);
			if (!strcmp(kind, "counter")) {
				size_t l = strlen(name);

				assert_true(l > 6 && !strcmp(name + l - 6, "_total"));
			}
		} else {
			/* a sample of the last announced family */
			size_t l = strcspn(p, "{ "), tl;
			const char *fam;

			assert_true(ntypes > 0);
			fam = type[ntypes - 1];
			tl = strlen(fam);
			if (!((l == tl && !strncmp(p, fam, l)) ||
			      (l > tl && !strncmp(p, fam, tl) &&
			       ((l - tl == 7 && !strncmp(p + tl, "_bucket", 7)) ||
				(l - tl == 4 && !strncmp(p + tl, "_sum", 4)) ||
				(l - tl == 6 && !strncmp(p + tl, "_count", 6))))))
				fail_msg("a sample outside its family: %.*s", (int)strcspn(p, "\n"), p);
		}
	}
}

static void test_render(void **state)
{
	struct metrics *m;
	struct metrics_gauges g = { .uploads = 2, .uploads_max = 8 };
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(metrics_new(&m, "1.2\"3"), 0);
	request(m, METRICS_RESOLVE, 200, 0.2, 1000, 0);
	request(m, METRICS_RESOLVE, 200, 0.0002, 24, 0);
	request(m, METRICS_RESOLVE, 404, 0.003, 50, 0);
	request(m, METRICS_UPLOAD, 201, 100.0, 70, 5000);
	request(m, 99, 400, 0.0, 10, 0); /* out of range: other */
	metrics_ingest(m, 5000, 2000000000u, 1);
	metrics_ingest(m, 7, 1000000000u, 0);
	metrics_commit(m, 500000000u, 1);
	metrics_restore(m, 1024, 250000000u);
	metrics_restore(m, 1000, 0);
	metrics_request_begin(m); /* one still in flight */

	assert_int_equal(metrics_render(m, NULL, &g, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	check_families(text);

	assert_true(strstr(text, "hubzip_build_info{version=\"1.2\\\"3\"} 1\n") != NULL);
	assert_true(sample(text, "hubzip_http_requests_total{route=\"resolve\",code=\"200\"}") == 2);
	assert_true(sample(text, "hubzip_http_requests_total{route=\"resolve\",code=\"404\"}") == 1);
	assert_true(sample(text, "hubzip_http_requests_total{route=\"other\",code=\"400\"}") == 1);
	/* buckets are cumulative: 0.0002 s in the first, 0.2 s from le=0.25 */
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"resolve\","
				 "code=\"200\",le=\"0.001\"}") == 1);
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"resolve\","
				 "code=\"200\",le=\"0.1\"}") == 1);
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"resolve\","
				 "code=\"200\",le=\"0.25\"}") == 2);
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"resolve\","
				 "code=\"200\",le=\"+Inf\"}") == 2);
	assert_true(sample(text, "hubzip_http_request_duration_seconds_count{route=\"resolve\","
				 "code=\"200\"}") == 2);
	{
		double sum = sample(text, "hubzip_http_request_duration_seconds_sum{route="
					  "\"resolve\",code=\"200\"}");

		assert_true(sum >= 0.2002 && sum < 0.3);
	}
	/* 100 s is past the last bucket: only +Inf holds it */
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"upload\","
				 "code=\"201\",le=\"60\"}") == 0);
	assert_true(sample(text, "hubzip_http_request_duration_seconds_bucket{route=\"upload\","
				 "code=\"201\",le=\"+Inf\"}") == 1);
	assert_true(sample(text, "hubzip_http_response_bytes_total{route=\"resolve\"}") == 1074);
	assert_true(sample(text, "hubzip_http_request_bytes_total{route=\"upload\"}") == 5000);
	assert_true(sample(text, "hubzip_http_response_bytes_total{route=\"metrics\"}") == 0);
	assert_true(sample(text, "hubzip_http_requests_in_flight") == 1);
	assert_true(sample(text, "hubzip_uploads_in_flight") == 2);
	assert_true(sample(text, "hubzip_uploads_limit") == 8);
	/* a failed ingest adds its time, not its file or bytes */
	assert_true(sample(text, "hubzip_ingest_files_total") == 1);
	assert_true(sample(text, "hubzip_ingest_bytes_total") == 5000);
	assert_true(sample(text, "hubzip_ingest_seconds_total") == 3.5);
	assert_true(sample(text, "hubzip_ingest_commits_total") == 1);
	assert_true(sample(text, "hubzip_restore_bytes_total") == 2024);
	assert_true(sample(text, "hubzip_restore_seconds_total") == 0.25);
	/* without a store, no store gauges */
	assert_null(strstr(text, "hubzip_store_"));
	free(text);
	metrics_free(m);
	metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_class),
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
