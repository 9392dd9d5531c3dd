/*
 * daemon.c -- a small pre-fork daemon in C on mproc (what the Python seeds
 * do with multiprocessing): two producer children feed a queue, the master
 * hands each job to a pool of C workers, the workers count the jobs in a
 * lock-protected counter in shared memory, and the master answers SIGUSR1
 * with a status line, SIGHUP with a note, SIGTERM/SIGINT with a clean stop.
 *
 *   daemon PIDFILE [SECONDS]     # SECONDS: a watchdog (SIGALRM), default 60
 *   kill -USR1 $(cat PIDFILE)    # status: pid=... state=running ... user=N,...
 *   kill -TERM $(cat PIDFILE)    # stops the producers, the pool, removes all
 */
#define _GNU_SOURCE
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCERS 2
#define WORKERS 2

/* Made before the pool forks its workers: valid in them (static memory). */
static struct {
  mproc_lock_t *lock;       /* guards counter[0] */
  mproc_array_t *counter;   /* jobs handled, by every worker */
} shared;

static mproc_queue_t *jobs; /* producers -> master */

static int die(const char *what) {
  fprintf(stderr, "daemon: %s: %s\n", what, mproc_last_error());
  return 1;
}

/* A producer child: a job every 5 ms until the master closes the queue. */
static int producer(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0;; i++) {
    char rec[64];
    int n = snprintf(rec, sizeof rec, "job %d.%d from pid %d", id, i, (int)getpid());
    int rc = mproc_queue_put(jobs, (const uint8_t *)rec, (size_t)n, 1000);
    if (rc == -EPIPE) return 0; /* closed: the daemon stops */
    if (rc != 0) return 1;
    usleep(5000);
  }
}

/* A pool task (runs in a worker): a checksum of the job, and one more job
 * counted under the shared lock. */
static int handle_job(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                      size_t *out_len, void *ctx) {
  (void)ctx;
  uint32_t sum = 0;
  for (size_t i = 0; i < in_len; i++) sum = sum * 31 + in[i];
  if (out_cap < sizeof sum) return -EMSGSIZE;
  int rc = mproc_lock_acquire(shared.lock, -1);
  if (rc != 0 && rc != -EOWNERDEAD) return rc; /* a dead holder: the count is still whole */
  int64_t n = 0;
  mproc_array_get(shared.counter, 0, &n);
  mproc_array_set(shared.counter, 0, n + 1);
  mproc_lock_release(shared.lock);
  memcpy(out, &sum, sizeof sum);
  *out_len = sizeof sum;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PIDFILE [SECONDS]\n", argv[0]);
    return 2;
  }
  mproc_alarm(argc > 2 ? (unsigned)atoi(argv[2]) : 60); /* watchdog */

  mproc_pidfile_t *pidfile = mproc_pidfile_create(argv[1]);
  if (!pidfile) return die("pidfile");
  /* Signals first: blocked here, read from the loop; children unblock them. */
  int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
  mproc_main_loop_t *loop = mproc_main_loop_new(signals, 4);
  if (!loop) return die("main loop");
  char board_name[64];
  snprintf(board_name, sizeof board_name, "/mproc-cdaemon-%d", (int)getpid());
  mproc_status_t *status = mproc_status_new(board_name);
  shared.lock = mproc_lock_new();
  shared.counter = mproc_array_new(1);
  jobs = mproc_queue_new(64 * 1024);
  if (!status || !shared.lock || !shared.counter || !jobs) return die("shared state");

  mproc_pool_t *pool = mproc_pool_new(WORKERS, 0);
  if (!pool) return die("pool");
  mproc_process_t *producers[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++) {
    producers[i] = mproc_process_new(producer, (void *)(intptr_t)i);
    if (!producers[i] || mproc_process_start(producers[i]) != 0) return die("producer");
  }
  mproc_status_set(status, MPROC_STATUS_WORKERS, WORKERS);
  mproc_status_set(status, MPROC_STATUS_TARGET_WORKERS, WORKERS);
  mproc_status_set(status, MPROC_STATUS_FORKS, WORKERS + PRODUCERS);
  mproc_status_set_state(status, MPROC_STATE_RUNNING);
  printf("ready pid=%d\n", (int)getpid());
  fflush(stdout);

  int running = 1;
  while (running) {
    int sigs[8];
    int n = mproc_main_loop_wait_pool(loop, pool, NULL, 0, 20, sigs, 8, NULL);
    if (n < 0) return die("wait");
    for (int i = 0; i < n; i++) {
      char line[256];
      int64_t counted = 0;
      switch (sigs[i]) {
        case SIGUSR1:
          mproc_array_get(shared.counter, 0, &counted);
          mproc_status_set(status, MPROC_STATUS_USER0, (uint64_t)counted);
          if (mproc_status_line(status, line, sizeof line) > 0) printf("status: %s\n", line);
          break;
        case SIGHUP:
          printf("reload: nothing to reload\n");
          break;
        default:
          running = 0;
      }
      fflush(stdout);
    }
    uint8_t job[256], out[16];
    size_t len, out_len;
    while (running && mproc_queue_get_nowait(jobs, job, sizeof job, &len) == 0) {
      int rc = mproc_pool_apply(pool, handle_job, NULL, job, len, out, sizeof out, &out_len);
      mproc_status_add(status, rc == 0 ? MPROC_STATUS_DONE : MPROC_STATUS_FAILED, 1, NULL);
    }
  }

  /* Stop: the producers see the closed queue and end; the pool drains. */
  mproc_status_set_state(status, MPROC_STATE_DRAINING);
  mproc_queue_close(jobs);
  int clean = 1;
  for (int i = 0; i < PRODUCERS; i++) {
    int code = -1;
    if (mproc_process_join(producers[i], 5000, &code) != 0 || code != 0) clean = 0;
    mproc_process_free(producers[i]);
  }
  mproc_pool_close(pool);
  if (mproc_pool_join(pool, 5000) != 0) clean = 0;
  mproc_pool_free(pool);
  uint64_t done = 0;
  int64_t counted = 0;
  mproc_status_get(status, MPROC_STATUS_DONE, &done);
  mproc_array_get(shared.counter, 0, &counted);
  if ((int64_t)done != counted) clean = 0;
  mproc_status_set_state(status, MPROC_STATE_STOPPED);
  mproc_status_free(status); /* removes /dev/shm/mproc-cdaemon-PID */
  mproc_queue_free(jobs);
  mproc_array_free(shared.counter);
  mproc_lock_free(shared.lock);
  mproc_main_loop_free(loop);
  mproc_pidfile_free(pidfile); /* removes the pidfile */
  printf("%s: %llu jobs, %lld counted by the workers\n", clean ? "stopped cleanly" : "stopped uncleanly",
         (unsigned long long)done, (long long)counted);
  return clean ? 0 : 1;
}
