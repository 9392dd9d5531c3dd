/*
 * test_sync.c -- shared memory (value, array, named segments) and the
 * synchronization primitives (lock, rlock, semaphores, barrier, event,
 * condition), from C: see test_mproc.c.
 */
#define _GNU_SOURCE
#include "check.h"

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

void test_shm(void) {
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
  /* Size 0: whatever its size. */
  mproc_shared_memory_t *any = mproc_shared_memory_open(name, 0);
  CHECK(any != NULL);
  CHECK_EQ(mproc_shared_memory_size(any), mproc_shared_memory_size(s));
  CHECK(memcmp(mproc_shared_memory_buf(any) + 100, "from the child", 14) == 0);
  mproc_shared_memory_free(any);
  CHECK_EQ(mproc_shared_memory_unlink(s), 0);
  CHECK(mproc_shared_memory_open(name, 10000) == NULL);
  CHECK_EQ(mproc_last_errno(), -ENOENT);
  CHECK(mproc_shared_memory_open(name, 0) == NULL);
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

void test_lock(void) {
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

void test_barrier(void) {
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

void test_event_condition(void) {
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
