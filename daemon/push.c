/*
 * daemon/push.c - `hubzip push URL REPO[@REV] DIR` and `hubzip pull URL
 * REPO[@REV] DIR`: the HTTP client (api/client.h) on the command line.
 * The token comes from $HUBZIP_TOKEN; a progress bar goes to stderr when
 * it is a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/client.h"
#include "common/error.h"
#include "daemon/cmd.h"

static const char push_usage[] =
	"usage: hubzip push URL REPO[@REV] DIR    upload DIR's files to branch REV (default main)\n"
	"       hubzip pull URL REPO[@REV] DIR    download revision REV (default main) into DIR\n"
	"The token is $HUBZIP_TOKEN.\n";

int cmd_push_pull(int argc, char **argv)
{
	int push = !strcmp(argv[0], "push");
	struct api_client_opts o = { 0 };
	char repo[512], commit[41];
	char *at, *url;
	size_t ul;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "hubzip: %s needs URL REPO[@REV] DIR\n\n%s", argv[0], push_usage);
		return 2;
	}
	if (strlen(argv[2]) >= sizeof(repo) || !strchr(argv[2], '/')) {
		fprintf(stderr, "hubzip: %s: '%s' is not namespace/name[@rev]\n", argv[0], argv[2]);
		return 2;
	}
	url = strdup(argv[1]);
	if (!url)
		return 1;
	ul = strlen(url);
	while (ul && url[ul - 1] == '/')
		url[--ul] = 0;
	snprintf(repo, sizeof(repo), "%s", argv[2]);
	at = strchr(repo, '@');
	if (at)
		*at++ = 0;
	o.url = url;
	o.repo = repo;
	o.rev = at && *at ? at : "main";
	o.token = getenv("HUBZIP_TOKEN");
	o.progress = isatty(STDERR_FILENO);
	if (push) {
		rc = api_client_push(commit, &o, argv[3]);
		if (!rc)
			printf("%s\n", commit);
	} else {
		rc = api_client_pull(&o, argv[3]);
	}
	free(url);
	if (rc) {
		fprintf(stderr, "hubzip: %s: %s\n", argv[0], hz_error_msg());
		return 1;
	}
	return 0;
}
