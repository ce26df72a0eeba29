/*
 * api/ui_int.h - the dashboard: its files (api/ui/), embedded at build
 * time by api/ui/embed.sh, and the handler that serves them.
 */
#ifndef HZ_API_UI_INT_H
#define HZ_API_UI_INT_H

#include <stddef.h>

struct api_req;

struct api_ui_asset {
	const char *name;		/* "index.html": the file's base name */
	const char *type;		/* its Content-Type */
	const char *etag;		/* quoted: a hash of the content */
	const unsigned char *data;	/* len bytes, static */
	size_t len;
};

/* The generated table ($(B)/gen/ui_assets.c), api_ui_assets_count rows. */
extern const struct api_ui_asset api_ui_assets[];
extern const size_t api_ui_assets_count;

/*
 * GET / and GET /ui/{asset}: the dashboard's page (for "/", "/ui" and
 * "/ui/") or the named asset, with its Content-Type, ETag, Cache-Control
 * and the security headers; 304 when If-None-Match names its ETag; 404
 * NotFound (JSON) for a name that is not embedded.  Returns 0.
 */
int ui_get(struct api_req *req);

#endif
