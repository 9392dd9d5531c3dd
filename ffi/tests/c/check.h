/*
 * check.h -- the C test program's checks, shared by its files
 * (test_mproc.c has main; test_sync.c, test_pool_daemon.c the rest).
 */
#ifndef MPROC_TEST_CHECK_H
#define MPROC_TEST_CHECK_H

#include "mproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern int passed, failed;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (cond) {                                                                  \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      printf("FAIL %s:%d: %s (last error %d: %s)\n", __FILE__, __LINE__, #cond, \
             mproc_last_errno(), mproc_last_error());                           \
      fflush(stdout);                                                            \
    }                                                                            \
  } while (0)

#define CHECK_EQ(a, b)                                                           \
  do {                                                                           \
    long long va_ = (long long)(a), vb_ = (long long)(b);                        \
    if (va_ == vb_) {                                                            \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      printf("FAIL %s:%d: %s == %s: %lld != %lld (last error %d: %s)\n",        \
             __FILE__, __LINE__, #a, #b, va_, vb_, mproc_last_errno(),           \
             mproc_last_error());                                                \
      fflush(stdout);                                                            \
    }                                                                            \
  } while (0)

/* The message names the function and contains `part`. */
#define CHECK_MSG(part)                                                          \
  CHECK(strstr(mproc_last_error(), (part)) != NULL)

/* A name unique to this process: "/mproc-ctest-WHAT-PID". */
const char *unique(const char *what);

/* The test groups, by file. */
void test_errors(void);
void test_process(void);
void test_signals(void);
void test_queue(void);
void test_pipe(void);
void test_mq(void);
void test_shm(void);
void test_lock(void);
void test_barrier(void);
void test_event_condition(void);
void test_pool(void);
void test_daemon(void);

/* A child body that sleeps until a signal ends it (test_mproc.c). */
int child_sleep(void *arg);

#endif
