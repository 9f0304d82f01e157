/* journal: what a replay created on the target, in a SQLite file (WAL), so
 * that it can be deleted at the end of the run, by `mimic cleanup` later,
 * or after a crash.
 *
 * Every create request is written down *before* it is sent (state
 * "pending", with the collection it goes to and a marker its body
 * carries), and confirmed when it is answered ("live" with the resource's
 * id and the URL that deletes it, or "none" when nothing was created).
 * Each write is its own committed transaction, so a crash (even kill -9)
 * loses nothing: a create whose answer never came stays "pending", and
 * cleanup finds it in its collection by its marker.
 *
 * One journal may be shared by threads (a mutex inside) and may hold
 * several runs. The file is made readable by its owner only: it holds the
 * Authorization header each resource was created with. */
#ifndef MIMIC_JOURNAL_H
#define MIMIC_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal;

/* A run, written when the journal is opened for one. */
struct journal_run {
  const char *run_id;
  const char *target; /* base URL */
  const char *model;
};

/* Opens (creating it if needed) the journal at path. run: the replay that
 * writes it; NULL to open an existing journal for cleanup (ERR_NOTFOUND
 * when the file does not exist, ERR_CORRUPT when it is no journal).
 * Returns 0, or a negative code with a message in err. */
int journal_open(const char *path, const struct journal_run *run,
                 struct journal **out, char *err, size_t errlen);
/* Marks the run ended (when opened for one) and closes. NULL: no-op. */
void journal_close(struct journal *j);

/* A create about to be sent. */
struct journal_intent {
  uint64_t user;
  uint32_t session;
  const char *method;     /* "POST" */
  const char *url;        /* absolute URL of the collection (no query) */
  const char *tag;        /* a marker the body carries (NULL: none) */
  const char *del_method; /* "DELETE" */
  const char *del_url;    /* absolute URL that deletes it, with
                             "{created.id}" where the id goes */
  const char *headers;    /* header lines a delete needs ('\n'-separated;
                             NULL: none) */
};

/* Writes an intent (committed); *seq identifies it. 0 or a negative code. */
int journal_intent(struct journal *j, const struct journal_intent *in,
                   int64_t *seq);

/* The outcome of the create seq: id (NULL: none found in the answer),
 * status (0: no answer). With an id the row becomes "live" (its delete URL
 * filled in); with status >= 400 or created == 0 it becomes "none" (nothing
 * was made); else it stays "pending" (a 2xx without an id, or no answer:
 * cleanup looks for it by its marker). Committed. */
int journal_confirm(struct journal *j, int64_t seq, const char *id, int status,
                    int created);

/* The run deleted the resource of row seq itself (its session's DELETE
 * answered 2xx, 404 or 410): a live row becomes "deleted". By row, not by
 * URL: a target that reuses ids (the highest one once it is deleted) may
 * already have given the same URL to another user's new resource. */
int journal_deleted(struct journal *j, int64_t seq, int status);

/* The user logged in (again): its resources not yet deleted are deleted
 * with these header lines from now on (a sign-up sent before any login
 * carried none). */
int journal_headers(struct journal *j, uint64_t user, const char *headers);

/* The session of (user, session) ended: its resources may be cleaned up
 * while the run goes on (--cleanup-interval). */
int journal_session_done(struct journal *j, uint64_t user, uint32_t session);

/* ---- cleanup -------------------------------------------------------- */

enum journal_kind {
  JOURNAL_LIVE,    /* delete it */
  JOURNAL_PENDING, /* find it in its collection by its tag first */
};

struct journal_item {
  int64_t seq;
  enum journal_kind kind;
  char *method, *url;         /* delete (LIVE) or the collection (PENDING) */
  char *del_method, *del_url; /* PENDING: the template to fill in */
  char *create_url;           /* the collection it was created in */
  char *tag, *headers, *run_id;
};

/* Rows to clean up, newest first (reverse order of creation): live ones,
 * except those superseded (marked "gone" first: a newer row has the same
 * delete URL, so the target reused the id, and the old resource was gone
 * by then, deleted with its parent, say),
 * and pending ones (unless live_only). run_id: only that run's (NULL: all);
 * ended_only: only resources whose session has ended. *items is
 * malloc'ed; free with journal_items_free. */
int journal_todo(struct journal *j, const char *run_id, int ended_only,
                 int live_only, struct journal_item **items, size_t *n);
void journal_items_free(struct journal_item *items, size_t n);

/* Whether a row newer than seq has url as its delete URL (see
 * journal_todo): deleting url would delete that newer resource. */
int journal_superseded(struct journal *j, int64_t seq, const char *url);

/* Whether a create into create_url newer than row seq, in seq's run, still
 * waits for its answer (or never got one): a target that reuses ids (the
 * highest one once it is deleted) may give it seq's URL, and deleting
 * seq's resource now could take that new one from its session. */
int journal_create_waiting(struct journal *j, int64_t seq,
                           const char *create_url);

/* Records a cleanup outcome of row seq: state "deleted", "gone" (404/410:
 * already deleted), "unfound" (a pending create not found in its
 * collection: it was never made), or NULL to leave it live and count a
 * failed attempt (status / error say why). */
int journal_mark(struct journal *j, int64_t seq, const char *state, int status,
                 const char *error);

/* A pending row found in its collection: it becomes live with this id and
 * delete URL. */
int journal_found(struct journal *j, int64_t seq, const char *id,
                  const char *del_url);

/* Rows by state, over all runs (or run_id's). */
struct journal_counts {
  uint64_t pending, live, none, deleted, gone, unfound;
};
int journal_counts(struct journal *j, const char *run_id,
                   struct journal_counts *c);

/* Runs in the journal that have not ended and whose process is still
 * alive on this machine (a replay still writing): their number. */
int journal_running(struct journal *j, char *run_id, size_t len);

/* The message of the last SQLite error (valid until the next call). */
const char *journal_errmsg(struct journal *j);

#endif
