/*
 * api/watch.c - the header deadline (api/watch_int.h): every connection
 * is on a list from libmicrohttpd's "started" to its "closed"
 * notification; a thread walks the list and shuts down the socket of a
 * connection that has been waiting for a request's headers for longer
 * than the deadline.  MHD then reads end-of-file and closes it as if the
 * client had: its own bookkeeping stays untouched.  MHD sends "closed"
 * before it closes the socket, and entries leave the list under the
 * lock, so the thread never shuts down a descriptor that was reused.
 */
#include "api/watch_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "api/api.h"
#include "api/dynlib.h"
#include "common/error.h"

struct conn {
	struct conn *prev, *next;
	struct api_watch *w;
	int fd;
	int busy;		/* a request is in progress */
	int cut;		/* shut down already */
	struct timespec since;	/* accepted, or the last request ended */
	char remote[INET6_ADDRSTRLEN];
};

struct api_watch {
	unsigned timeout_s;
	pthread_mutex_t lock;	/* guards the list and every entry */
	pthread_cond_t wake;
	struct conn head;	/* sentinel of a circular list */
	int stop;
	int thread_started;
	pthread_t thread;
	uint64_t ncut;
};

static double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Shuts down what missed the deadline; returns how many (lock held). */
static unsigned sweep(struct api_watch *w, char *last_remote, size_t n)
{
	struct timespec now;
	unsigned cut = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (struct conn *c = w->head.next; c != &w->head; c = c->next) {
		if (c->busy || c->cut || elapsed(&c->since, &now) < (double)w->timeout_s)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->cut = 1;
		cut++;
		snprintf(last_remote, n, "%s", c->remote);
	}
	w->ncut += cut;
	return cut;
}

static void *watch_main(void *arg)
{
	struct api_watch *w = arg;
	/* four looks per deadline, at least one a second */
	long step_ms = w->timeout_s >= 4 ? 1000 : (long)w->timeout_s * 250;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		char remote[INET6_ADDRSTRLEN] = "";
		struct timespec until;
		unsigned cut;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += step_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->wake, &w->lock, &until);
		if (w->stop)
			break;
		cut = sweep(w, remote, sizeof(remote));
		if (cut) {
			pthread_mutex_unlock(&w->lock);
			api_log(API_LOG_WARN, "closed %u connection%s (last from %s) that sent no"
				" complete request headers within %u s", cut, cut > 1 ? "s" : "",
				remote, w->timeout_s);
			pthread_mutex_lock(&w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int api_watch_new(struct api_watch **out, unsigned timeout_s)
{
	struct api_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	*out = NULL;
	if (!w)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	w->timeout_s = timeout_s;
	w->head.prev = w->head.next = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (timeout_s) {
		if (pthread_create(&w->thread, NULL, watch_main, w)) {
			api_watch_free(w);
			return hz_error_set(HZ_ERROR, "cannot start the header-deadline thread");
		}
		w->thread_started = 1;
	}
	*out = w;
	return 0;
}

void api_watch_free(struct api_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	/* MHD closed every connection before: the list is empty */
	while (w->head.next != &w->head) {
		struct conn *c = w->head.next;

		c->next->prev = c->prev;
		c->prev->next = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void remote_of(struct MHD_Connection *conn, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, n, "-");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)n);
}

void api_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct api_watch *w = cls;
	struct conn *c = *socket_context;

	if (!w || !w->timeout_s)
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!ci || !(c = calloc(1, sizeof(*c))))
			return; /* not watched: MHD's inactivity timeout still holds */
		c->w = w;
		c->fd = ci->connect_fd;
		clock_gettime(CLOCK_MONOTONIC, &c->since);
		remote_of(conn, c->remote, sizeof(c->remote));
		pthread_mutex_lock(&w->lock);
		c->next = &w->head;
		c->prev = w->head.prev;
		w->head.prev->next = c;
		w->head.prev = c;
		pthread_mutex_unlock(&w->lock);
		*socket_context = c;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
		pthread_mutex_lock(&w->lock);
		c->next->prev = c->prev;
		c->prev->next = c->next;
		pthread_mutex_unlock(&w->lock);
		free(c);
		*socket_context = NULL;
	}
}

void api_watch_busy(struct MHD_Connection *conn, int busy)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = ci ? ci->socket_context : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&c->w->lock);
	c->busy = busy;
	if (!busy)
		clock_gettime(CLOCK_MONOTONIC, &c->since);
	pthread_mutex_unlock(&c->w->lock);
}

uint64_t api_watch_cut_count(struct api_watch *w)
{
	uint64_t n;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	n = w->ncut;
	pthread_mutex_unlock(&w->lock);
	return n;
}
