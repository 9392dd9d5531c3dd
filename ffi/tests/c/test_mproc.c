/*
 * test_mproc.c -- every entry point of mproc.h, from C, with its errors
 * (NULL and foreign handles, nowait on empty and full, too-large items,
 * timeouts, dead holders and workers).
 *
 * Built and run by ffi/tests/c.rs (cargo test -p mproc-ffi) and by
 * ffi/scripts/c-cross.sh under qemu-user. Prints one line per failed check,
 * "SKIP: ..." for what the platform cannot do, and at the end
 * "N passed, M failed"; exits 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include "mproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
static int under_qemu;

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

static char name_buf[64];
static const char *unique(const char *what) {
  snprintf(name_buf, sizeof name_buf, "/mproc-ctest-%s-%d", what, (int)getpid());
  return name_buf;
}

/* ------------------------------------------------------------ errors */

static void test_errors(void) {
  uint8_t buf[8] = {0};
  size_t len;
  CHECK_EQ(mproc_queue_put(NULL, buf, 1, 0), -EINVAL);
  CHECK_MSG("mproc_queue_put");
  CHECK_MSG("NULL");
  CHECK_EQ(mproc_last_errno(), -EINVAL);

  mproc_queue_t *q = mproc_queue_new(1024);
  CHECK(q != NULL);
  /* A handle of another type is refused, not misread. */
  CHECK_EQ(mproc_lock_acquire((mproc_lock_t *)q, 0), -EINVAL);
  CHECK_MSG("not a lock handle");
  CHECK_EQ(mproc_pool_apply((mproc_pool_t *)q, NULL, NULL, NULL, 0, NULL, 0, &len), -EINVAL);
  /* NULL buffers with a length, NULL out-pointers. */
  CHECK_EQ(mproc_queue_put(q, NULL, 4, 0), -EINVAL);
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, NULL, 0), -EINVAL);
  mproc_queue_free(q);
  /* Freeing NULL is fine. */
  mproc_queue_free(NULL);
  mproc_lock_free(NULL);
  CHECK_EQ(mproc_pool_free(NULL), 0);
}

/* ------------------------------------------------------------ processes */

static int child_exit7(void *arg) {
  (void)arg;
  printf("child says hello"); /* no newline: flushed by the library */
  return 7;
}

static int child_sleep(void *arg) {
  (void)arg;
  for (;;) pause();
  return 0;
}

static int child_arg(void *arg) { return *(int *)arg; }

static mproc_value_t *grandchild_done;

static int grandchild_slow(void *arg) {
  (void)arg;
  usleep(100 * 1000);
  mproc_value_set(grandchild_done, 1);
  return 0;
}

/* Starts a daemonic grandchild that never ends and a slow one, then
 * returns 5: its exit, as a return's, stops the daemonic one and joins the
 * other first. */
static int child_with_children(void *arg) {
  (void)arg;
  mproc_process_t *d = mproc_process_new(child_sleep, NULL);
  mproc_process_t *s = mproc_process_new(grandchild_slow, NULL);
  if (mproc_process_set_daemon(d, true) != 0 || mproc_process_start(d) != 0 ||
      mproc_process_start(s) != 0)
    return 1;
  return 5;
}

static void test_process(void) {
  int code = -100;
  mproc_process_t *p = mproc_process_new(child_exit7, NULL);
  CHECK(p != NULL);
  CHECK_EQ(mproc_process_pid(p), -ECHILD);
  CHECK_EQ(mproc_process_join(p, -1, &code), -ECHILD);
  CHECK_EQ(mproc_process_exitcode(p, &code), -ECHILD);
  CHECK_EQ(mproc_process_is_alive(p), 0);
  CHECK_EQ(mproc_process_set_name(p, "worker-7"), 0);
  char longname[300];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  CHECK_EQ(mproc_process_set_name(p, longname), -ENOSPC);
  CHECK_EQ(mproc_process_set_daemon(p, false), 0);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK(mproc_process_pid(p) > 0);
  CHECK(mproc_process_sentinel(p) >= 0);
  CHECK_EQ(mproc_process_start(p), -EALREADY);
  CHECK_EQ(mproc_process_set_daemon(p, true), -EINVAL);
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 7);
  code = -100;
  CHECK_EQ(mproc_process_exitcode(p, &code), 0);
  CHECK_EQ(code, 7);
  CHECK_EQ(mproc_process_is_alive(p), 0);
  mproc_process_free(p);
  printf("\n");

  CHECK(mproc_cpu_count() >= 1);
  CHECK(mproc_process_new(NULL, NULL) == NULL);
  CHECK_EQ(mproc_last_errno(), -EINVAL);

  /* The argument is the parent's memory, copied by the fork. */
  int value = 42;
  p = mproc_process_new(child_arg, &value);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_process_join(p, 10000, &code), 0);
  CHECK_EQ(code, 42);
  mproc_process_free(p);

  /* A child's own children are joined before it exits with its code. */
  grandchild_done = mproc_value_new(0);
  p = mproc_process_new(child_with_children, NULL);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_process_join(p, 10000, &code), 0);
  CHECK_EQ(code, 5);
  int64_t done = 0;
  CHECK_EQ(mproc_value_get(grandchild_done, &done), 0);
  CHECK_EQ(done, 1);
  mproc_process_free(p);
  mproc_value_free(grandchild_done);

  /* Timeouts, terminate, kill: exit codes as Python's. */
  p = mproc_process_new(child_sleep, NULL);
  CHECK_EQ(mproc_process_set_daemon(p, true), 0);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_process_join(p, 50, &code), -ETIMEDOUT);
  CHECK_MSG("still running");
  CHECK_EQ(mproc_process_exitcode(p, &code), -EAGAIN);
  CHECK_EQ(mproc_process_is_alive(p), 1);
  CHECK_EQ(mproc_process_terminate(p), 0);
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, -15);
  CHECK_EQ(mproc_process_kill(p), 0); /* ended: nothing to do, as Python's */
  mproc_process_free(p);

  p = mproc_process_new(child_sleep, NULL);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_kill(mproc_process_pid(p), SIGKILL), 0);
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, -9);
  mproc_process_free(p);

  p = mproc_process_new(child_sleep, NULL);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_process_kill(p), 0);
  CHECK_EQ(mproc_process_join(p, -1, NULL), 0);
  mproc_process_free(p);
}

/* ------------------------------------------------------------ signals */

static void test_signals(void) {
  CHECK_EQ(mproc_kill(getpid(), 0), 0);
  CHECK_EQ(mproc_kill(-1, SIGTERM), -EINVAL);
  CHECK_MSG("mproc_kill");
  CHECK_EQ(mproc_kill(getpid(), 999), -EINVAL);
  CHECK_EQ(mproc_kill(0x3ffffff0, SIGTERM), -ESRCH);

  CHECK(mproc_signal_flag_new(SIGKILL) == NULL);
  CHECK_EQ(mproc_last_errno(), -EINVAL);
  mproc_signal_flag_t *usr1 = mproc_signal_flag_new(SIGUSR1);
  CHECK(usr1 != NULL);
  CHECK_EQ(mproc_signal_flag_is_set(usr1), 0);
  CHECK_EQ(mproc_kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(mproc_signal_flag_is_set(usr1), 1);
  CHECK_EQ(mproc_signal_flag_take(usr1), 1);
  CHECK_EQ(mproc_signal_flag_take(usr1), 0);
  mproc_signal_flag_free(usr1);

  /* alarm + pause: Python's signal.alarm(1); signal.pause(). */
  mproc_signal_flag_t *alrm = mproc_signal_flag_new(SIGALRM);
  CHECK(alrm != NULL);
  CHECK_EQ(mproc_alarm(1), 0);
  while (!mproc_signal_flag_is_set(alrm)) CHECK_EQ(mproc_pause(), 0);
  CHECK_EQ(mproc_signal_flag_take(alrm), 1);
  CHECK_EQ(mproc_alarm(100), 0);
  unsigned left = mproc_alarm(0);
  CHECK(left >= 99 && left <= 100);
  mproc_signal_flag_free(alrm);
}

/* ------------------------------------------------------------ queue */

static int queue_child(void *arg) {
  mproc_queue_t *q = arg;
  for (int i = 0; i < 100; i++) {
    char rec[32];
    int n = snprintf(rec, sizeof rec, "record %d", i);
    if (mproc_queue_put(q, (const uint8_t *)rec, (size_t)n, 5000) != 0) return 1;
  }
  return 0;
}

static void test_queue(void) {
  uint8_t buf[2048];
  size_t len = 0;
  mproc_queue_t *q = mproc_queue_new(1024);
  CHECK(q != NULL);
  CHECK_EQ(mproc_queue_max_record(q), 1016);
  CHECK_EQ(mproc_queue_get_nowait(q, buf, sizeof buf, &len), -EAGAIN);
  CHECK_MSG("mproc_queue_get");
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, &len, 30), -ETIMEDOUT);
  CHECK_EQ(mproc_queue_put(q, (const uint8_t *)"hello", 5, -1), 0);
  CHECK_EQ(mproc_queue_qsize(q), 1);
  /* Too small a buffer: the record stays at the front. */
  CHECK_EQ(mproc_queue_get(q, buf, 3, &len, 0), -EMSGSIZE);
  CHECK_MSG("5 bytes");
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, &len, -1), 0);
  CHECK_EQ(len, 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  /* Too large a record: refused at once, nothing queued. */
  memset(buf, 'x', sizeof buf);
  CHECK_EQ(mproc_queue_put(q, buf, 2000, -1), -EMSGSIZE);
  CHECK_MSG("2000");
  CHECK_EQ(mproc_queue_qsize(q), 0);
  /* Fill it: then put_nowait says EAGAIN, a timed put ETIMEDOUT. */
  int n = 0;
  while (mproc_queue_put_nowait(q, buf, 100) == 0) n++;
  CHECK_EQ(mproc_last_errno(), -EAGAIN);
  CHECK(n >= 8);
  CHECK_EQ(mproc_queue_put(q, buf, 100, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_queue_qsize(q), n);
  for (int i = 0; i < n; i++) CHECK_EQ(mproc_queue_get_nowait(q, buf, sizeof buf, &len), 0);
  CHECK_EQ(mproc_queue_qsize(q), 0);

  /* Between processes: a child puts 100 records, the parent gets them. */
  mproc_process_t *p = mproc_process_new(queue_child, q);
  CHECK_EQ(mproc_process_start(p), 0);
  int in_order = 1;
  for (int i = 0; i < 100; i++) {
    char want[32];
    int wn = snprintf(want, sizeof want, "record %d", i);
    if (mproc_queue_get(q, buf, sizeof buf, &len, 10000) != 0 || len != (size_t)wn ||
        memcmp(buf, want, len) != 0)
      in_order = 0;
  }
  CHECK(in_order);
  int code = -1;
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 0);
  mproc_process_free(p);

  /* JoinableQueue: join waits for a task_done per record put. */
  /* Put so far: "hello", the n of the fill, the child's 100; none done. */
  char unfinished[64];
  snprintf(unfinished, sizeof unfinished, "%d tasks unfinished", 1 + n + 100);
  CHECK_EQ(mproc_queue_join(q, 0), -EAGAIN);
  CHECK_MSG(unfinished);
  for (int i = 0; i < 1 + n + 100; i++) CHECK_EQ(mproc_queue_task_done(q), 0);
  CHECK_EQ(mproc_queue_task_done(q), -EINVAL);
  CHECK_EQ(mproc_queue_join(q, -1), 0);
  CHECK_EQ(mproc_queue_put(q, (const uint8_t *)"t", 1, 0), 0);
  CHECK_EQ(mproc_queue_join(q, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, &len, 0), 0);
  CHECK_EQ(mproc_queue_task_done(q), 0);
  CHECK_EQ(mproc_queue_join(q, 0), 0);

  /* Closed: puts fail, gets drain, then the end of the stream. */
  CHECK_EQ(mproc_queue_put(q, (const uint8_t *)"last", 4, 0), 0);
  CHECK_EQ(mproc_queue_close(q), 0);
  CHECK_EQ(mproc_queue_put(q, (const uint8_t *)"late", 4, 0), -EPIPE);
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, &len, -1), 0);
  CHECK_EQ(mproc_queue_get(q, buf, sizeof buf, &len, -1), -ENODATA);
  mproc_queue_free(q);

  q = mproc_queue_new(0);
  CHECK(q != NULL);
  CHECK(mproc_queue_max_record(q) > 1000000);
  mproc_queue_free(q);
  CHECK(mproc_queue_new(3) == NULL);
  CHECK(mproc_last_errno() < 0);
}

/* ------------------------------------------------------------ pipe */

static int pipe_child(void *arg) {
  mproc_connection_t *c = arg;
  uint8_t buf[64];
  size_t len;
  if (mproc_connection_recv_bytes(c, buf, sizeof buf, &len, 10000) != 0) return 1;
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(buf[i] - 'a' + 'A');
  if (mproc_connection_send_bytes(c, buf, len) != 0) return 2;
  return 0;
}

static void test_pipe(void) {
  mproc_connection_t *a = NULL, *b = NULL;
  uint8_t buf[64];
  size_t len;
  CHECK_EQ(mproc_pipe(true, &a, NULL), -EINVAL);
  CHECK_EQ(mproc_pipe(true, &a, &b), 0);
  CHECK(mproc_connection_fd(a) >= 0);
  mproc_process_t *p = mproc_process_new(pipe_child, b);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_connection_send_bytes(a, (const uint8_t *)"shout", 5), 0);
  CHECK_EQ(mproc_connection_poll(a, 10000), 1);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, sizeof buf, &len, -1), 0);
  CHECK_EQ(len, 5);
  CHECK(memcmp(buf, "SHOUT", 5) == 0);
  int code = -1;
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 0);
  mproc_process_free(p);
  CHECK_EQ(mproc_connection_poll(a, 0), 0);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, sizeof buf, &len, 0), -EAGAIN);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, sizeof buf, &len, 20), -ETIMEDOUT);
  /* The peer closed: EOF for the receiver, EPIPE for the sender. */
  mproc_connection_free(b);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, sizeof buf, &len, -1), -ENODATA);
  CHECK_EQ(mproc_connection_send_bytes(a, buf, 1), -EPIPE);
  mproc_connection_free(a);

  /* Simplex: a receives, b sends. */
  CHECK_EQ(mproc_pipe(false, &a, &b), 0);
  /* Too short a buffer: its first bytes, the rest of that message gone
   * (Python's BufferTooShort); the next message is whole. */
  CHECK_EQ(mproc_connection_send_bytes(b, (const uint8_t *)"longer", 6), 0);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, 2, &len, -1), -EMSGSIZE);
  CHECK_MSG("6 bytes");
  CHECK_EQ(mproc_connection_send_bytes(a, buf, 1), -EINVAL);
  CHECK_EQ(mproc_connection_send_bytes(b, (const uint8_t *)"one", 3), 0);
  CHECK_EQ(mproc_connection_recv_bytes(a, buf, sizeof buf, &len, -1), 0);
  CHECK_EQ(len, 3);
  mproc_connection_free(a);
  mproc_connection_free(b);
}

/* ------------------------------------------------------------ message queue */

static void test_mq(void) {
  uint8_t buf[128];
  size_t len;
  unsigned prio = 0;
  char name[64];
  snprintf(name, sizeof name, "%s", unique("mq"));
  mproc_mq_t *mq = mproc_mq_create(name, 4, 64);
  if (mq == NULL && mproc_last_errno() == -ENOSYS) {
    printf("SKIP: POSIX message queues: %s\n", mproc_last_error());
    return;
  }
  CHECK(mq != NULL);
  if (mq == NULL) return;
  CHECK_EQ(mproc_mq_message_size(mq), 64);
  CHECK(mproc_mq_fd(mq) >= 0);
  CHECK(mproc_mq_create(name, 4, 64) == NULL);
  CHECK_EQ(mproc_last_errno(), -EEXIST);
  CHECK(mproc_mq_create("no-slash/x", 4, 64) == NULL);
  CHECK_EQ(mproc_last_errno(), -EINVAL);
  CHECK_EQ(mproc_mq_receive_nowait(mq, buf, sizeof buf, &len, &prio), -EAGAIN);
  CHECK_EQ(mproc_mq_receive(mq, buf, sizeof buf, &len, &prio, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_mq_send(mq, (const uint8_t *)"low", 3, 1, -1), 0);
  CHECK_EQ(mproc_mq_send_nowait(mq, (const uint8_t *)"high", 4, 9), 0);
  memset(buf, 'x', sizeof buf);
  CHECK_EQ(mproc_mq_send(mq, buf, 100, 0, 0), -EMSGSIZE);
  mproc_mq_t *other = mproc_mq_open(name);
  CHECK(other != NULL);
  CHECK_EQ(mproc_mq_receive(other, buf, sizeof buf, &len, &prio, -1), 0);
  CHECK_EQ(len, 4);
  CHECK_EQ(prio, 9);
  CHECK_EQ(mproc_mq_receive(other, buf, 10, &len, &prio, 0), -EMSGSIZE);
  CHECK_EQ(mproc_mq_receive(mq, buf, sizeof buf, &len, NULL, 0), 0);
  CHECK_EQ(len, 3);
  /* Fill it: 4 messages, then EAGAIN / ETIMEDOUT. */
  for (int i = 0; i < 4; i++) CHECK_EQ(mproc_mq_send_nowait(mq, buf, 8, 0), 0);
  CHECK_EQ(mproc_mq_send_nowait(mq, buf, 8, 0), -EAGAIN);
  CHECK_EQ(mproc_mq_send(mq, buf, 8, 0, 20), -ETIMEDOUT);
  mproc_mq_free(other);
  CHECK_EQ(mproc_mq_unlink(mq), 0);
  CHECK(mproc_mq_open(name) == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOENT);
  mproc_mq_free(mq);
}

/* ------------------------------------------------------------ shared memory */

static int add_child(void *arg) {
  mproc_value_t *v = arg;
  for (int i = 0; i < 1000; i++)
    if (mproc_value_add(v, 1, NULL) != 0) return 1;
  return 0;
}

static int shm_child(void *arg) {
  const char *name = arg;
  mproc_shared_memory_t *s = mproc_shared_memory_open(name, 10000);
  if (s == NULL) return 1;
  uint8_t *b = mproc_shared_memory_buf(s);
  int ok = memcmp(b, "from the parent", 15) == 0;
  memcpy(b + 100, "from the child", 14);
  mproc_shared_memory_free(s);
  return ok ? 0 : 2;
}

static void test_shm(void) {
  int64_t x = 0;
  mproc_value_t *v = mproc_value_new(5);
  CHECK(v != NULL);
  CHECK_EQ(mproc_value_get(v, &x), 0);
  CHECK_EQ(x, 5);
  CHECK_EQ(mproc_value_set(v, 0), 0);
  CHECK_EQ(mproc_value_get(v, NULL), -EINVAL);
  mproc_process_t *ps[4];
  for (int i = 0; i < 4; i++) {
    ps[i] = mproc_process_new(add_child, v);
    CHECK_EQ(mproc_process_start(ps[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    int code = -1;
    CHECK_EQ(mproc_process_join(ps[i], -1, &code), 0);
    CHECK_EQ(code, 0);
    mproc_process_free(ps[i]);
  }
  CHECK_EQ(mproc_value_add(v, 10, &x), 0);
  CHECK_EQ(x, 4010);
  mproc_value_free(v);

  mproc_array_t *a = mproc_array_new(100);
  CHECK(a != NULL);
  CHECK_EQ(mproc_array_len(a), 100);
  CHECK_EQ(mproc_array_set(a, 99, -7), 0);
  CHECK_EQ(mproc_array_get(a, 99, &x), 0);
  CHECK_EQ(x, -7);
  CHECK_EQ(mproc_array_add(a, 99, 10, &x), 0);
  CHECK_EQ(x, 3);
  CHECK_EQ(mproc_array_get(a, 100, &x), -ERANGE);
  CHECK_MSG("index 100 out of range for an array of length 100");
  CHECK_EQ(mproc_array_set(a, 1000, 1), -ERANGE);
  mproc_array_free(a);
  CHECK(mproc_array_new(0) == NULL);
  CHECK_EQ(mproc_last_errno(), -EINVAL);
  CHECK(mproc_array_new(MPROC_ARRAY_MAX + 1) == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOSPC);
  CHECK_MSG("MPROC_ARRAY_MAX");

  char name[64];
  snprintf(name, sizeof name, "%s", unique("shm"));
  mproc_shared_memory_t *s = mproc_shared_memory_create(name, 10000);
  CHECK(s != NULL);
  if (s == NULL) return;
  CHECK(mproc_shared_memory_size(s) >= 10000);
  uint8_t *b = mproc_shared_memory_buf(s);
  CHECK(b != NULL);
  CHECK_EQ(b[9999], 0);
  memcpy(b, "from the parent", 15);
  CHECK(mproc_shared_memory_create(name, 10000) == NULL);
  CHECK_EQ(mproc_last_errno(), -EEXIST);
  mproc_process_t *p = mproc_process_new(shm_child, name);
  CHECK_EQ(mproc_process_start(p), 0);
  int code = -1;
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 0);
  mproc_process_free(p);
  CHECK(memcmp(b + 100, "from the child", 14) == 0);
  /* Opened with another size class: the header says no. */
  mproc_shared_memory_t *wrong = mproc_shared_memory_open(name, 100);
  CHECK(wrong == NULL);
  CHECK(mproc_last_errno() == -EPROTO);
  CHECK_EQ(mproc_shared_memory_unlink(s), 0);
  CHECK(mproc_shared_memory_open(name, 10000) == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOENT);
  mproc_shared_memory_free(s);
  CHECK(mproc_shared_memory_create(name, 0) == NULL);
  CHECK_EQ(mproc_last_errno(), -EINVAL);
  CHECK(mproc_shared_memory_create(name, MPROC_SHARED_MEMORY_MAX + 1) == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOSPC);
}

/* ------------------------------------------------------------ locks */

struct lock_args {
  mproc_lock_t *lock;
  mproc_event_t *held;
  mproc_event_t *go;
};

static int hold_lock_child(void *arg) {
  struct lock_args *a = arg;
  if (mproc_lock_acquire(a->lock, -1) != 0) return 1;
  mproc_event_set(a->held);
  if (mproc_event_wait(a->go, 10000) != 0) return 2;
  return mproc_lock_release(a->lock) == 0 ? 0 : 3;
}

static int die_holding_child(void *arg) {
  struct lock_args *a = arg;
  if (mproc_lock_acquire(a->lock, -1) != 0) return 1;
  _exit(0); /* dies holding the lock */
}

static void test_lock(void) {
  mproc_lock_t *l = mproc_lock_new();
  CHECK(l != NULL);
  CHECK_EQ(mproc_lock_release(l), -EPERM);
  CHECK_MSG("not held by this thread");
  CHECK_EQ(mproc_lock_acquire(l, 0), 0);
  CHECK_EQ(mproc_lock_is_locked(l), 1);
  CHECK_EQ(mproc_lock_release(l), 0);
  CHECK_EQ(mproc_lock_is_locked(l), 0);

  struct lock_args a = {l, mproc_event_new(), mproc_event_new()};
  CHECK(a.held != NULL && a.go != NULL);
  mproc_process_t *p = mproc_process_new(hold_lock_child, &a);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_event_wait(a.held, 10000), 0);
  CHECK_EQ(mproc_lock_acquire(l, 0), -EAGAIN);
  CHECK_EQ(mproc_lock_acquire(l, 30), -ETIMEDOUT);
  CHECK_MSG("still held");
  CHECK_EQ(mproc_event_set(a.go), 0);
  CHECK_EQ(mproc_lock_acquire(l, 10000), 0);
  CHECK_EQ(mproc_lock_release(l), 0);
  int code = -1;
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 0);
  mproc_process_free(p);

  /* A holder that dies: the next acquirer is told, and holds it. */
  p = mproc_process_new(die_holding_child, &a);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(mproc_lock_acquire(l, 10000), -EOWNERDEAD);
  CHECK_MSG("died holding it");
  CHECK_EQ(mproc_lock_is_locked(l), 1);
  CHECK_EQ(mproc_lock_release(l), 0);
  CHECK_EQ(mproc_lock_acquire(l, 0), 0);
  CHECK_EQ(mproc_lock_release(l), 0);
  mproc_process_free(p);
  mproc_event_free(a.held);
  mproc_event_free(a.go);
  mproc_lock_free(l);

  mproc_rlock_t *r = mproc_rlock_new();
  CHECK(r != NULL);
  CHECK_EQ(mproc_rlock_acquire(r, -1), 0);
  CHECK_EQ(mproc_rlock_acquire(r, 0), 0);
  CHECK_EQ(mproc_rlock_release(r), 0);
  CHECK_EQ(mproc_rlock_release(r), 0);
  CHECK_EQ(mproc_rlock_release(r), -EPERM);
  mproc_rlock_free(r);

  mproc_semaphore_t *s = mproc_semaphore_new(2);
  CHECK(s != NULL);
  CHECK_EQ(mproc_semaphore_value(s), 2);
  CHECK_EQ(mproc_semaphore_acquire(s, -1), 0);
  CHECK_EQ(mproc_semaphore_acquire(s, 0), 0);
  CHECK_EQ(mproc_semaphore_acquire(s, 0), -EAGAIN);
  CHECK_EQ(mproc_semaphore_acquire(s, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_semaphore_release(s), 0);
  CHECK_EQ(mproc_semaphore_value(s), 1);
  mproc_semaphore_free(s);

  mproc_bounded_semaphore_t *bs = mproc_bounded_semaphore_new(1);
  CHECK(bs != NULL);
  CHECK_EQ(mproc_bounded_semaphore_release(bs), -ENOSPC);
  CHECK_EQ(mproc_bounded_semaphore_value(bs), 1);
  CHECK_EQ(mproc_bounded_semaphore_acquire(bs, -1), 0);
  CHECK_EQ(mproc_bounded_semaphore_acquire(bs, 0), -EAGAIN);
  CHECK_EQ(mproc_bounded_semaphore_acquire(bs, 10), -ETIMEDOUT);
  CHECK_EQ(mproc_bounded_semaphore_release(bs), 0);
  mproc_bounded_semaphore_free(bs);
}

static int barrier_child(void *arg) {
  int i = mproc_barrier_wait(arg, 10000);
  return i >= 0 && i < 3 ? 10 + i : 1;
}

static void test_barrier(void) {
  mproc_barrier_t *b = mproc_barrier_new(3);
  CHECK(b != NULL);
  mproc_process_t *ps[2];
  for (int i = 0; i < 2; i++) {
    ps[i] = mproc_process_new(barrier_child, b);
    CHECK_EQ(mproc_process_start(ps[i]), 0);
  }
  int mine = mproc_barrier_wait(b, 10000);
  CHECK(mine >= 0 && mine < 3);
  int seen = 1 << mine;
  for (int i = 0; i < 2; i++) {
    int code = -1;
    CHECK_EQ(mproc_process_join(ps[i], -1, &code), 0);
    CHECK(code >= 10 && code < 13);
    if (code >= 10 && code < 13) seen |= 1 << (code - 10);
    mproc_process_free(ps[i]);
  }
  CHECK_EQ(seen, 7); /* indexes 0, 1, 2, once each */
  /* Alone at a barrier of 3: the time runs out and breaks it. */
  CHECK_EQ(mproc_barrier_wait(b, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_barrier_wait(b, 20), -EPIPE);
  CHECK_MSG("broken");
  CHECK_EQ(mproc_barrier_reset(b), 0);
  CHECK_EQ(mproc_barrier_abort(b), 0);
  CHECK_EQ(mproc_barrier_wait(b, 20), -EPIPE);
  mproc_barrier_free(b);
}

static int event_child(void *arg) { return mproc_event_set(arg) == 0 ? 0 : 1; }

struct cond_args {
  mproc_condition_t *cond;
  mproc_event_t *waiting;
};

static int cond_child(void *arg) {
  struct cond_args *a = arg;
  if (mproc_condition_acquire(a->cond, -1) != 0) return 1;
  mproc_event_set(a->waiting);
  int rc = mproc_condition_wait(a->cond, 10000);
  mproc_condition_release(a->cond);
  return rc == 0 ? 0 : 2;
}

static void test_event_condition(void) {
  mproc_event_t *e = mproc_event_new();
  CHECK(e != NULL);
  CHECK_EQ(mproc_event_is_set(e), 0);
  CHECK_EQ(mproc_event_wait(e, 0), -EAGAIN);
  CHECK_EQ(mproc_event_wait(e, 20), -ETIMEDOUT);
  mproc_process_t *p = mproc_process_new(event_child, e);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_event_wait(e, -1), 0);
  CHECK_EQ(mproc_event_is_set(e), 1);
  CHECK_EQ(mproc_process_join(p, -1, NULL), 0);
  mproc_process_free(p);
  CHECK_EQ(mproc_event_clear(e), 0);
  CHECK_EQ(mproc_event_is_set(e), 0);

  mproc_condition_t *c = mproc_condition_new();
  CHECK(c != NULL);
  CHECK_EQ(mproc_condition_notify(c, 1), -EPERM);
  CHECK_EQ(mproc_condition_acquire(c, -1), 0);
  CHECK_EQ(mproc_condition_notify(c, 1), 0);
  CHECK_EQ(mproc_condition_wait(c, 20), -ETIMEDOUT);
  CHECK_EQ(mproc_condition_release(c), 0);
  CHECK_EQ(mproc_condition_wait(c, 20), -EPERM);

  struct cond_args a = {c, e};
  p = mproc_process_new(cond_child, &a);
  CHECK_EQ(mproc_process_start(p), 0);
  CHECK_EQ(mproc_event_wait(e, 10000), 0);
  /* The child releases the lock only by waiting: once we hold it, it waits. */
  CHECK_EQ(mproc_condition_acquire(c, 10000), 0);
  CHECK_EQ(mproc_condition_notify_all(c), 1);
  CHECK_EQ(mproc_condition_release(c), 0);
  int code = -1;
  CHECK_EQ(mproc_process_join(p, -1, &code), 0);
  CHECK_EQ(code, 0);
  mproc_process_free(p);
  mproc_condition_free(c);
  mproc_event_free(e);
}

/* ------------------------------------------------------------ pool */

static int upper(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
                 void *ctx) {
  (void)ctx;
  if (in_len > out_cap) return -EMSGSIZE;
  for (size_t i = 0; i < in_len; i++)
    out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (uint8_t)(in[i] - 32) : in[i];
  *out_len = in_len;
  return 0;
}

static int square(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
                  void *ctx) {
  int64_t x, offset = *(const int64_t *)ctx;
  if (in_len != sizeof x || out_cap < sizeof x) return -EINVAL;
  memcpy(&x, in, sizeof x);
  x = x * x + offset;
  memcpy(out, &x, sizeof x);
  *out_len = sizeof x;
  return 0;
}

static int fails(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
                 void *ctx) {
  (void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len, (void)ctx;
  return -ENOENT;
}

static int dies(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
                void *ctx) {
  (void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len, (void)ctx;
  _exit(3);
}

static int slow(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
                void *ctx) {
  usleep(300 * 1000);
  return upper(in, in_len, out, out_cap, out_len, ctx);
}

static const int64_t OFFSET = 1000; /* static: valid in the workers */

static void test_pool(void) {
  uint8_t out[4096];
  size_t len = 0;
  mproc_pool_t *pool = mproc_pool_new(2, 0);
  CHECK(pool != NULL);
  if (pool == NULL) return;
  CHECK_EQ(mproc_pool_processes(pool), 2);
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, (const uint8_t *)"hello", 5, out, sizeof out, &len), 0);
  CHECK_EQ(len, 5);
  CHECK(memcmp(out, "HELLO", 5) == 0);
  CHECK_EQ(mproc_pool_apply(pool, NULL, NULL, NULL, 0, out, sizeof out, &len), -EINVAL);
  /* The function's own code comes back as is. */
  CHECK_EQ(mproc_pool_apply(pool, fails, NULL, NULL, 0, out, sizeof out, &len), -ENOENT);
  CHECK_MSG("returned -2");
  /* Output too large for the caller's buffer (the function says so). */
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, (const uint8_t *)"hello", 5, out, 2, &len), -EMSGSIZE);
  /* Input too large for a task slot (2048 bytes by default). */
  static uint8_t big[4000];
  memset(big, 'a', sizeof big);
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, big, sizeof big, out, sizeof out, &len), -EMSGSIZE);
  CHECK_MSG("task_bytes");
  /* A worker that dies fails its task alone, and is replaced. */
  CHECK_EQ(mproc_pool_apply(pool, dies, NULL, NULL, 0, out, sizeof out, &len), -ECHILD);
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, (const uint8_t *)"again", 5, out, sizeof out, &len), 0);

  mproc_async_result_t *r = mproc_pool_apply_async(pool, slow, NULL, (const uint8_t *)"later", 5, 64);
  CHECK(r != NULL);
  CHECK_EQ(mproc_async_result_ready(r), 0);
  CHECK_EQ(mproc_async_result_get(r, out, sizeof out, &len, 0), -EAGAIN);
  CHECK_EQ(mproc_async_result_get(r, out, sizeof out, &len, 10), -ETIMEDOUT);
  CHECK_EQ(mproc_pool_free(pool), -EBUSY);
  CHECK_EQ(mproc_async_result_get(r, out, sizeof out, &len, -1), 0);
  CHECK_EQ(len, 5);
  CHECK(memcmp(out, "LATER", 5) == 0);
  CHECK_EQ(mproc_async_result_ready(r), 1);
  CHECK_EQ(mproc_async_result_get(r, out, sizeof out, &len, -1), -EINVAL);
  mproc_async_result_free(r);

  int64_t in[10], res[10];
  size_t lens[10];
  for (int i = 0; i < 10; i++) in[i] = i;
  CHECK_EQ(mproc_pool_map(pool, square, (void *)&OFFSET, (const uint8_t *)in, sizeof in[0], 10,
                          (uint8_t *)res, sizeof res[0], lens),
           0);
  int all = 1;
  for (int i = 0; i < 10; i++) all &= lens[i] == sizeof res[0] && res[i] == (int64_t)i * i + OFFSET;
  CHECK(all);
  CHECK_EQ(mproc_pool_map(pool, square, (void *)&OFFSET, (const uint8_t *)in, 3, 10, (uint8_t *)res,
                          sizeof res[0], lens),
           -EINVAL);
  CHECK_MSG("item 0");

  CHECK_EQ(mproc_pool_close(pool), 0);
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, (const uint8_t *)"x", 1, out, sizeof out, &len), -ESHUTDOWN);
  CHECK_EQ(mproc_pool_join(pool, 10000), 0);
  CHECK_EQ(mproc_pool_free(pool), 0);

  pool = mproc_pool_new(1, 64 * 1024);
  CHECK(pool != NULL);
  CHECK_EQ(mproc_pool_apply(pool, upper, NULL, big, sizeof big, out, sizeof out, &len), 0);
  CHECK_EQ(len, sizeof big);
  CHECK_EQ(mproc_pool_terminate(pool), 0);
  CHECK_EQ(mproc_pool_free(pool), 0);
}

/* ------------------------------------------------------------ daemon kit */

static void test_daemon(void) {
  char path[96];
  snprintf(path, sizeof path, "/tmp/mproc-ctest-%d.pid", (int)getpid());
  unlink(path);
  CHECK_EQ(mproc_pidfile_read(path), 0);
  mproc_pidfile_t *pf = mproc_pidfile_create(path);
  CHECK(pf != NULL);
  CHECK_EQ(mproc_pidfile_read(path), getpid());
  CHECK(mproc_pidfile_create(path) == NULL);
  CHECK_EQ(mproc_last_errno(), -EBUSY);
  CHECK_MSG("already running");
  mproc_pidfile_free(pf);
  CHECK_EQ(mproc_pidfile_read(path), 0);
  CHECK(mproc_pidfile_create("/nonexistent-dir/x.pid") == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOENT);

  mproc_status_t *st = mproc_status_new(NULL);
  CHECK(st != NULL);
  CHECK_EQ(mproc_status_set_state(st, MPROC_STATE_RUNNING), 0);
  CHECK_EQ(mproc_status_set_state(st, 99), -EINVAL);
  CHECK_EQ(mproc_status_set(st, MPROC_STATUS_WORKERS, 2), 0);
  CHECK_EQ(mproc_status_set(st, MPROC_STATUS_WORKERS, 1ull << 40), -ERANGE);
  uint64_t v = 0;
  CHECK_EQ(mproc_status_add(st, MPROC_STATUS_DONE, 3, &v), 0);
  CHECK_EQ(v, 3);
  CHECK_EQ(mproc_status_add(st, MPROC_STATUS_USER1, 5, NULL), 0);
  CHECK_EQ(mproc_status_get(st, MPROC_STATUS_USER1, &v), 0);
  CHECK_EQ(v, 5);
  CHECK_EQ(mproc_status_get(st, 42, &v), -EINVAL);
  char line[256];
  int n = mproc_status_line(st, line, sizeof line);
  CHECK(n > 0 && (size_t)n == strlen(line));
  CHECK(strstr(line, "state=running") != NULL);
  CHECK(strstr(line, "done=3") != NULL);
  CHECK(strstr(line, "workers=2/") != NULL);
  CHECK(strstr(line, "user=0,5,0,0") != NULL);
  CHECK_EQ(mproc_status_line(st, line, 10), -EMSGSIZE);
  mproc_status_free(st);

  char name[64];
  snprintf(name, sizeof name, "%s", unique("status"));
  st = mproc_status_new(name);
  CHECK(st != NULL);
  CHECK(mproc_status_new(name) == NULL);
  CHECK_EQ(mproc_last_errno(), -EEXIST);
  mproc_status_free(st);

  int sigs[4];
  CHECK(mproc_main_loop_new(NULL, 0) == NULL);
  int wanted[] = {SIGUSR2, SIGHUP};
  mproc_main_loop_t *ml = mproc_main_loop_new(wanted, 2);
  CHECK(ml != NULL);
  CHECK(mproc_main_loop_fd(ml) >= 0);
  uint64_t ready = 99;
  CHECK_EQ(mproc_main_loop_wait(ml, NULL, 0, 0, sigs, 4, &ready), 0);
  CHECK_EQ(ready, 0);
  CHECK_EQ(mproc_kill(getpid(), SIGUSR2), 0);
  CHECK_EQ(mproc_main_loop_wait(ml, NULL, 0, 10000, sigs, 4, &ready), 1);
  CHECK_EQ(sigs[0], SIGUSR2);
  mproc_connection_t *a, *b;
  CHECK_EQ(mproc_pipe(true, &a, &b), 0);
  CHECK_EQ(mproc_connection_send_bytes(b, (const uint8_t *)"x", 1), 0);
  int fds[2] = {mproc_connection_fd(b), mproc_connection_fd(a)};
  CHECK_EQ(mproc_main_loop_wait(ml, fds, 2, 10000, sigs, 4, &ready), 0);
  CHECK_EQ(ready, 2);
  mproc_pool_t *pool = mproc_pool_new(1, 0);
  CHECK(pool != NULL);
  CHECK_EQ(mproc_kill(getpid(), SIGHUP), 0);
  CHECK_EQ(mproc_main_loop_wait_pool(ml, pool, NULL, 0, 10000, sigs, 4, &ready), 1);
  CHECK_EQ(sigs[0], SIGHUP);
  int bad = -1;
  CHECK_EQ(mproc_main_loop_wait(ml, &bad, 1, 0, sigs, 4, &ready), -EINVAL);
  CHECK_EQ(mproc_pool_free(pool), 0);
  mproc_connection_free(a);
  mproc_connection_free(b);
  mproc_main_loop_free(ml);
}

#define RUN(t)                          \
  do {                                  \
    printf("test %s\n", #t);            \
    fflush(stdout);                     \
    t();                                \
  } while (0)

int main(void) {
  under_qemu = getenv("MPROC_UNDER_QEMU") != NULL;
  (void)under_qemu;
  RUN(test_errors);
  RUN(test_process);
  RUN(test_signals);
  RUN(test_queue);
  RUN(test_pipe);
  RUN(test_mq);
  RUN(test_shm);
  RUN(test_lock);
  RUN(test_barrier);
  RUN(test_event_condition);
  RUN(test_pool);
  RUN(test_daemon);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
