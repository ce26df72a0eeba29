/*
 * daemon/stats.c - `hubzip stats [REPO] [--json]`: the JSON of GET
 * /api/stats (or /api/stats/repos/REPO) as the API builds it, or the same
 * numbers as tables: totals, the savings per stage with a text bar, the
 * families, the largest repos (or one repo's revisions).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "common/error.h"
#include "daemon/cmd.h"
#include "store/store.h"

#define BAR_WIDTH 50
#define REPOS_SHOWN 20

static long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static double pct(long long part, long long whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *stage_keys[] = { "file_dedup", "tensor_dedup", "delta", "coding" };
static const char *stage_names[] = { "file dedup", "tensor dedup", "delta", "coding" };
static const char stage_marks[] = { 'F', 'T', 'D', 'C' };

/* The stages as lines with a percentage of logical, and one stacked bar
 * (F T D C for the stages, # for what is stored). */
static void print_stages(const json_t *o)
{
	const json_t *sg = json_object_get(o, "stages");
	long long logical = jint(o, "logical_bytes"), physical = jint(o, "physical_bytes");
	char bar[BAR_WIDTH + 1];
	int used = 0;

	printf("saved by stage (of %lld logical bytes):\n", logical);
	for (int i = 0; i < 4; i++) {
		long long v = jint(sg, stage_keys[i]);
		int w = logical > 0 && v > 0 ? (int)((double)v * BAR_WIDTH / (double)logical + 0.5) : 0;

		printf("  %-13s %16lld  %5.1f%%\n", stage_names[i], v, pct(v, logical));
		for (int k = 0; k < w && used < BAR_WIDTH; k++)
			bar[used++] = stage_marks[i];
	}
	printf("  %-13s %16lld  %5.1f%%\n", "stored", physical, pct(physical, logical));
	while (used < BAR_WIDTH)
		bar[used++] = '#';
	bar[BAR_WIDTH] = '\0';
	printf("  [%s]  F file dedup, T tensor dedup, D delta, C coding, # stored\n", bar);
}

static void print_row(const char *name, const json_t *o)
{
	long long l = jint(o, "logical_bytes"), p = jint(o, "physical_bytes");

	printf("%-44s %16lld %16lld %7.2fx\n", name, l, p, p ? (double)l / (double)p : 0.0);
}

static void print_store(const json_t *o)
{
	const json_t *c = json_object_get(o, "counts"), *d = json_object_get(o, "disk");
	const json_t *repos = json_object_get(o, "repos"), *fams = json_object_get(o, "families");
	const json_t *e;
	size_t i;

	printf("%-44s %16s %16s %8s\n", "", "logical bytes", "physical bytes", "ratio");
	print_row("total", o);
	putchar('\n');
	print_stages(o);
	putchar('\n');
	if (json_array_size(fams)) {
		printf("%-44s %7s %16s %16s %8s\n", "family (founder)", "members", "logical bytes",
		       "physical bytes", "ratio");
		json_array_foreach(fams, i, e) {
			const json_t *root = json_object_get(e, "root");
			char name[64];
			long long l = jint(e, "logical_bytes"), p = jint(e, "physical_bytes");

			snprintf(name, sizeof(name), "%lld %s", jint(e, "family"),
				 json_is_string(root) ? json_string_value(root) : "(private)");
			printf("%-44s %7lld %16lld %16lld %7.2fx\n", name, jint(e, "members"), l, p,
			       p ? (double)l / (double)p : 0.0);
		}
		putchar('\n');
	}
	printf("%-44s %16s %16s %8s\n", json_array_size(repos) > REPOS_SHOWN ? "largest repos"
									   : "repo",
	       "logical bytes", "physical bytes", "ratio");
	json_array_foreach(repos, i, e) {
		if (i == REPOS_SHOWN) {
			printf("... %zu more (hubzip stats --json lists them all)\n",
			       json_array_size(repos) - REPOS_SHOWN);
			break;
		}
		print_row(json_string_value(json_object_get(e, "repo")), e);
	}
	putchar('\n');
	printf("%lld repos, %lld revisions, %lld files (%lld unique), %lld tensors (%lld unique),"
	       " %lld objects, %lld families\n",
	       jint(c, "repos"), jint(c, "revisions"), jint(c, "files"), jint(c, "unique_files"),
	       jint(c, "tensors"), jint(c, "unique_tensors"), jint(c, "objects"),
	       jint(c, "families"));
	printf("on disk: %lld pack bytes in %lld packs = %lld physical + %lld pack headers + %lld"
	       " dead; index %lld bytes\n",
	       jint(d, "pack_bytes"), jint(c, "packs"), jint(o, "physical_bytes"),
	       jint(d, "pack_header_bytes"), jint(d, "dead_bytes"), jint(d, "index_bytes"));
}

static void print_repo(const json_t *o)
{
	const json_t *fi = json_object_get(o, "family_info"), *commits = json_object_get(o, "commits");
	const json_t *e;
	size_t i;

	printf("%s (%s%s)\n", json_string_value(json_object_get(o, "repo")),
	       json_string_value(json_object_get(o, "type")),
	       json_is_true(json_object_get(o, "private")) ? ", private" : "");
	if (json_is_object(fi)) {
		const json_t *base = json_object_get(fi, "base");

		printf("family %lld (founder %s)", jint(fi, "family"),
		       json_is_string(json_object_get(fi, "root"))
			       ? json_string_value(json_object_get(fi, "root")) : "-");
		if (json_is_string(base))
			printf(", derives from %s (similarity %.3f)", json_string_value(base),
			       json_real_value(json_object_get(fi, "score")));
		putchar('\n');
	}
	printf("%lld revisions, %lld files (%lld unique), %lld tensors (%lld unique);"
	       " %lld bytes only this repo needs\n\n",
	       jint(o, "revisions"), jint(o, "files"), jint(o, "unique_files"), jint(o, "tensors"),
	       jint(o, "unique_tensors"), jint(o, "exclusive_bytes"));
	printf("%-44s %16s %16s %8s\n", "", "logical bytes", "physical bytes", "ratio");
	print_row("total", o);
	putchar('\n');
	print_stages(o);
	printf("\n%-44s %16s %16s %8s\n", "revision (newest first)", "logical bytes",
	       "physical bytes", "ratio");
	json_array_foreach(commits, i, e) {
		const json_t *br = json_object_get(e, "branches");
		char name[64];

		snprintf(name, sizeof(name), "%.12s %s", json_string_value(json_object_get(e, "commit")),
			 json_array_size(br) ? json_string_value(json_array_get(br, 0)) : "");
		print_row(name, e);
	}
}

int cmd_stats(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	const char *repo = NULL;
	json_t *o = NULL;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] != '-' && !repo) {
			repo = argv[i];
		} else {
			fprintf(stderr, "hubzip: usage: stats [REPO] [--json]\n");
			return 2;
		}
	}
	if (repo && store_repo_name_check(repo)) {
		fprintf(stderr, "hubzip: %s\n", hz_error_msg());
		return 2;
	}
	rc = store_open(&s, dir, 0);
	if (!rc)
		rc = api_stats_json(s, repo, 0, &o);
	store_free(s);
	if (rc) {
		fprintf(stderr, "hubzip: stats failed: %s\n", hz_error_msg());
		return 1;
	}
	if (json) {
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else if (repo) {
		print_repo(o);
	} else {
		print_store(o);
	}
	json_decref(o);
	return 0;
}
