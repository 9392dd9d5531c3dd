/*
 * test_mproc.c -- every entry point of mproc.h, from C, with its errors
 * (NULL and foreign handles, nowait on empty and full, too-large items,
 * timeouts, dead holders and workers): errors, processes, signals,
 * queues, pipes and message queues here; shared memory and the
 * synchronization primitives in test_sync.c; the pool and the daemon kit
 * in test_pool_daemon.c.
 *
 * Built and run by ffi/tests/c.rs (cargo test -p mproc-ffi) and by
 * ffi/scripts/c-cross.sh under qemu-user. Prints one line per failed check
 * and at the end "N passed, M failed"; exits 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include "check.h"

int passed, failed;

static char name_buf[64];
const char *unique(const char *what) {
  snprintf(name_buf, sizeof name_buf, "/mproc-ctest-%s-%d", what, (int)getpid());
  return name_buf;
}

/* ------------------------------------------------------------ errors */

void test_errors(void) {
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

int child_sleep(void *arg) {
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

void test_process(void) {
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

void test_signals(void) {
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

void test_queue(void) {
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

void test_pipe(void) {
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

void test_mq(void) {
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

#define RUN(t)                          \
  do {                                  \
    printf("test %s\n", #t);            \
    fflush(stdout);                     \
    t();                                \
  } while (0)

int main(void) {
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
