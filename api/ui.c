/*
 * api/ui.c - serves the dashboard (api/ui/: a page, its script and its
 * style sheet), embedded in the binary: no file is read at run time and
 * nothing is loaded from elsewhere.  The page reads the stats API with
 * fetch(); the Content-Security-Policy allows nothing but this origin and
 * no inline script, so an injected string cannot run.
 */
#include "api/api_int.h"
#include "api/ui_int.h"

#include <string.h>

#define UI_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; " \
	       "form-action 'none'; frame-ancestors 'none'"

static const struct api_ui_asset *asset_find(const char *name)
{
	for (size_t i = 0; i < api_ui_assets_count; i++)
		if (!strcmp(api_ui_assets[i].name, name))
			return &api_ui_assets[i];
	return NULL;
}

/* Whether an If-None-Match value ("*" or a list of entity tags, weak or
 * strong) names etag (RFC 9110 13.1.2: a weak comparison). */
static int etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == elen && !memcmp(p, etag, n))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

int ui_get(struct api_req *req)
{
	const char *name = req->rest && *req->rest ? req->rest : "index.html";
	const struct api_ui_asset *a = asset_find(name);
	const char *inm = api_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	struct MHD_Response *r;
	unsigned status = MHD_HTTP_OK;
	size_t len;

	if (!a)
		return api_reply_error(req, MHD_HTTP_NOT_FOUND, "NotFound",
				       "no dashboard file '%s'", name);
	if (inm && etag_matches(inm, a->etag)) {
		status = MHD_HTTP_NOT_MODIFIED;
		len = 0;
	} else {
		len = a->len;
	}
	r = MHD_create_response_from_buffer(len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (r) {
		if (status == MHD_HTTP_OK)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
		/* revalidate every time: a new binary serves new files */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r, "Content-Security-Policy", UI_CSP);
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	}
	return api_queue(req, status, r, len);
}
