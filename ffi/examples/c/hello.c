/* Python: p = Process(target=work, args=("the child",)); p.start(); p.join() */
#include <mproc.h>
#include <stdio.h>

static int work(void *arg) { printf("hello from %s\n", (const char *)arg); return 3; }

int main(void) {
    mproc_process_t *p = mproc_process_new(work, (void *)"the child");
    int code = 0;
    if (mproc_process_start(p) != 0 || mproc_process_join(p, -1, &code) != 0) {
        fprintf(stderr, "%s\n", mproc_last_error());
        return 1;
    }
    printf("the child exited with %d\n", code); /* 3 */
    mproc_process_free(p);
    return 0;
}
