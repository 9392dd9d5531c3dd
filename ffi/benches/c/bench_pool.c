/*
 * bench_pool.c -- the C side of benches/pool_c.rs: N mproc_pool_apply round
 * trips of an 8-byte task (x + 1 on a uint64_t) on a pool of 2 workers,
 * after a warm-up; prints "ns_per_op <median-free mean of the loop>".
 *
 *   bench_pool N
 */
#define _GNU_SOURCE
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int inc(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len,
               void *ctx) {
  (void)ctx;
  uint64_t x;
  if (in_len != sizeof x || out_cap < sizeof x) return -EINVAL;
  memcpy(&x, in, sizeof x);
  x += 1;
  memcpy(out, &x, sizeof x);
  *out_len = sizeof x;
  return 0;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 2000;
  mproc_pool_t *pool = mproc_pool_new(2, 0);
  if (!pool) {
    fprintf(stderr, "pool: %s\n", mproc_last_error());
    return 1;
  }
  uint64_t sum = 0;
  for (long i = 0; i < n / 10 + 1; i++) { /* warm-up */
    uint64_t x = (uint64_t)i, y;
    size_t len;
    if (mproc_pool_apply(pool, inc, NULL, (uint8_t *)&x, sizeof x, (uint8_t *)&y, sizeof y, &len)) return 1;
  }
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    uint64_t x = (uint64_t)i, y = 0;
    size_t len = 0;
    if (mproc_pool_apply(pool, inc, NULL, (uint8_t *)&x, sizeof x, (uint8_t *)&y, sizeof y, &len) != 0 ||
        len != sizeof y) {
      fprintf(stderr, "apply: %s\n", mproc_last_error());
      return 1;
    }
    sum += y;
  }
  double t1 = now_ns();
  /* Every result checked: the sum of i + 1 for i in 0..n. */
  if (sum != (uint64_t)n * (uint64_t)(n + 1) / 2) {
    fprintf(stderr, "wrong sum %llu\n", (unsigned long long)sum);
    return 1;
  }
  printf("ns_per_op %.0f\n", (t1 - t0) / (double)n);
  return mproc_pool_free(pool) == 0 ? 0 : 1;
}
