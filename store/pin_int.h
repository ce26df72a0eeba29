/*
 * store/pin_int.h - what keeps gc from collecting what an ingest session in
 * flight uses, and from removing files a session or an fsck still needs
 * (store/pin.c; docs/format.md, "Garbage collection while writing").
 *
 * Locks are flock(2) locks, taken on files of the store directory, so they
 * hold between threads (each struct store opens its own descriptors) and
 * between processes, and a process that dies drops them:
 *
 *   objects/locks/gc     gc, exclusive: from reading the pins to the end of
 *                        its index transaction and its sweep of tmp/.  A
 *                        session, shared: around each lookup whose result
 *                        it will commit (a stored object or file it reuses,
 *                        the base of a delta) and the pin that records it.
 *   objects/locks/gate   gives gc priority over the stream of sessions'
 *                        short shared holds: sessions pass it shared, gc
 *                        holds it exclusive while it waits.
 *   objects/locks/fsck   fsck, shared, for its whole run; gc unlinks pack
 *                        files only if it can take it exclusive at once.
 *   objects/locks/gc-run gc, exclusive, for its whole run: one gc at a time
 *                        (another gc's short hold of the fsck lock would
 *                        otherwise make it leave its dead packs behind).
 *   objects/tmp/ID.pins  a session's pins, one "o ID" (object) or "f ID"
 *                        (file) line each; the session holds the file
 *                        locked until it ends.  gc keeps what the live
 *                        ones name and removes the dead ones.
 *   a session's packs    locked by it from creation to the end of the
 *                        session (also once renamed into packs/XX/).
 */
#ifndef HZ_STORE_PIN_INT_H
#define HZ_STORE_PIN_INT_H

#include <stdint.h>

struct store;

enum { LOCK_GATE = 0, LOCK_GC = 1, LOCK_FSCK = 2, LOCK_COUNT = 3 };

/* A session's pins file (fd -1 until the first pin). */
struct pin_set {
	int fd;
	char *path;
};

void pin_set_init(struct pin_set *p);
/* Removes the pins file and closes it; the session no longer holds
 * anything.  Safe to call twice. */
void pin_set_release(struct pin_set *p);

/*
 * The session's side: pin_lock waits for a running gc's transaction to end
 * and keeps the next one from starting until pin_unlock.  Between them,
 * with no statement of s active (a lookup must read a snapshot taken
 * after the lock), look up what the session will reuse and pin_add it.
 */
int pin_lock(struct store *s);
void pin_unlock(struct store *s);
/* Records id (kind 'o' an object, 'f' a file) in the session's pins. */
int pin_add(struct store *s, struct pin_set *p, char kind, int64_t id);
/*
 * pin_lock, check that object id still exists (with that size and dtype,
 * stored without delta, so that it can be a base), pin it, pin_unlock.
 * 1 if it was pinned, 0 if it is gone (gc took it), or an error.
 */
int pin_base(struct store *s, struct pin_set *p, int64_t id, uint64_t size, int dtype);

/* Takes a new file descriptor's flock: creates and locks atomically for
 * gc, which only sweeps tmp/ holding LOCK_GC exclusive.  Used for a
 * session's packs; the caller holds pin_lock. */
int pin_lock_fd(int fd, const char *what);

/* gc's side: pin_gc_begin waits for any other gc to end (gc-run) and
 * gives the descriptor that holds it, which pin_gc_end closes to let the
 * next one go (-1: nothing); in between, pin_gc_lock takes the gate and
 * LOCK_GC exclusive (waits), pin_gc_unlock releases them. */
int pin_gc_begin(struct store *s, int *out_fd);
void pin_gc_end(int fd);
int pin_gc_lock(struct store *s);
void pin_gc_unlock(struct store *s);
/*
 * Inside pin_gc_lock and gc's transaction: adds the ids every live
 * session pinned to the TEMP tables gc_objects / gc_files, and removes
 * the pins files of dead sessions (*out_removed counts them).
 */
int pin_gc_load(struct store *s, uint64_t *out_removed);
/* 1 if the file at path is locked by someone (a live session's), 0 if
 * not, in which case *fd_out holds it locked until the caller closes it;
 * -1 if it cannot be opened (gone). */
int pin_probe(const char *path, int *fd_out);

/* fsck's lock: shared for a run; gc's try for exclusive (1 taken, 0 busy). */
int pin_fsck_lock(struct store *s);
void pin_fsck_unlock(struct store *s);
int pin_fsck_try_exclusive(struct store *s);

/* Closes s's lock descriptors (store_free). */
void pin_locks_close(struct store *s);

#endif
