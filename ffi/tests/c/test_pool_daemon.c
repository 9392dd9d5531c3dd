/*
 * test_pool_daemon.c -- the pool over C functions and the daemon kit
 * (pidfile, status board, main loop), from C: see test_mproc.c.
 */
#define _GNU_SOURCE
#include "check.h"

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

void test_pool(void) {
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

void test_daemon(void) {
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
