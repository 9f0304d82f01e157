/* exact: `mimic replay MODEL --exact`: sends the recorded request trace of
 * a model (`capture --record`) again, session by session in order, with
 * the recorded timing divided by --speed. --scale K runs K copies of every
 * session, staggered, each with its own session id (more users, not the
 * same requests faster); --loop starts over until --duration or Ctrl-C.
 * Values the recording marked as coming from an earlier response of the
 * session (ids, tokens, cookies) are taken from this run's responses; when
 * one is missing the recorded fake is sent. A request waits for the
 * previous one of its session to finish. Its own small libcurl multi loop:
 * sessions are sequential, so no scheduler is needed. */
#ifndef MIMIC_EXACT_H
#define MIMIC_EXACT_H

/* The command: argv[0] is "replay"; options include --exact. Returns an
 * exit status (0 done, 1 could not run, 2 usage, 4 target never
 * answered). */
int exact_main(int argc, char **argv);

/* 1 when argv asks for exact replay (has --exact). */
int exact_wanted(int argc, char **argv);

#endif
