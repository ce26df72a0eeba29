/*
 * api/watch_int.h - the header deadline.  A connection must deliver a
 * request line and its headers within header_timeout seconds of being
 * accepted, or of the end of its previous request; otherwise it is shut
 * down.  libmicrohttpd's own timeout is one of inactivity, which every byte
 * resets: a client that trickles its headers a byte at a time (slowloris),
 * or opens connections and sends nothing, would hold connections, which
 * are bounded in number, for as long as it likes.  Once a request's headers
 * are in, the deadline does not apply to it (a slow upload or download is
 * bounded by the inactivity timeout only).
 */
#ifndef HZ_API_WATCH_INT_H
#define HZ_API_WATCH_INT_H

#include <microhttpd.h>
#include <stdint.h>

struct api_watch;

/*
 * Starts watching with a deadline of timeout_s seconds (a thread that
 * looks about four times per deadline, at least once a second); 0 turns
 * the deadline off (no thread; the callbacks do nothing).  Returns 0 or
 * HZ_ENOMEM / HZ_ERROR; *out is freed with api_watch_free.
 */
int api_watch_new(struct api_watch **out, unsigned timeout_s);

/* Stops the thread and frees w: after MHD_stop_daemon (every connection
 * closed).  NULL is a no-op. */
void api_watch_free(struct api_watch *w);

/* The MHD_OPTION_NOTIFY_CONNECTION callback; cls is the watch. */
void api_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);

/* From the connection's thread: a request's headers are in (busy = 1, on
 * the first call of the request handler) or the request ended (busy = 0,
 * from the completion callback; the deadline starts anew). */
void api_watch_busy(struct MHD_Connection *conn, int busy);

/* Connections shut down for missing the deadline so far. */
uint64_t api_watch_cut_count(struct api_watch *w);

#endif
