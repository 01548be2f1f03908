/* The C interface, from C: every function of vmm_pmr_c.h on the host backend.
 *
 *   c_interface_test pools TRACE_FILE   pools the test owns: options, allocate and free,
 *                                       bad arguments, trim, settle, stats, record=
 *   c_interface_test device TRACE_FILE  device pools and the torch and cupy hooks, with
 *                                       VMM_PMR_CONF=backend=host,...,record=TRACE_FILE set
 *                                       by meson; run in a child process so that its exit
 *                                       flushes the traces, which the parent then reads
 *   c_interface_test bad_conf           VMM_PMR_CONF refused: NULL pools and a message
 *
 * Exits 0 when every check held, 1 otherwise (each failure printed). */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_pmr_c.h"

static int failures = 0;

#define CHECK(condition)                                                                   \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: \"%s\"\n", __FILE__, __LINE__, \
              #condition, vmm_pmr_last_error());                                           \
      ++failures;                                                                          \
    }                                                                                      \
  } while (0)

/* Whether the last error holds `text`. */
static int error_says(const char* text) { return strstr(vmm_pmr_last_error(), text) != NULL; }

/* ---- reading a trace back ---- */

typedef struct trace_row {
  char action[32];
  uintptr_t pointer;
  size_t size;
  uintptr_t stream;
} trace_row;

/* The rows of `path` (at most `capacity`), or -1 when the file or its header is wrong. */
static int read_trace(const char* path, trace_row* rows, int capacity) {
  FILE* file = fopen(path, "r");
  char line[256];
  int count = 0;
  if (file == NULL) return -1;
  if (fgets(line, sizeof line, file) == NULL ||
      strcmp(line, "Thread,Time,Action,Pointer,Size,Stream\n") != 0) {
    fclose(file);
    return -1;
  }
  while (count < capacity && fgets(line, sizeof line, file) != NULL) {
    unsigned long long thread = 0, size = 0;
    unsigned hours = 0, minutes = 0, seconds = 0, micros = 0;
    uintptr_t pointer = 0, stream = 0;
    char action[32] = {0};
    /* The action may be "allocate failure": read up to the comma. */
    if (sscanf(line, "%llu,%u:%u:%u.%u,%31[^,],%" SCNxPTR ",%llu,%" SCNxPTR, &thread, &hours,
               &minutes, &seconds, &micros, action, &pointer, &size, &stream) != 9) {
      fprintf(stderr, "malformed trace row: %s", line);
      fclose(file);
      return -1;
    }
    strcpy(rows[count].action, action);
    rows[count].pointer = pointer;
    rows[count].size = (size_t)size;
    rows[count].stream = stream;
    ++count;
  }
  fclose(file);
  return count;
}

static int row_is(const trace_row* row, const char* action, const void* pointer, size_t size,
                  uintptr_t stream) {
  return strcmp(row->action, action) == 0 && row->pointer == (uintptr_t)pointer &&
         row->size == size && row->stream == stream;
}

/* ---- pools the caller owns ---- */

static void test_create_and_destroy(void) {
  vmm_pmr_pool* pool = vmm_pmr_pool_create(0, "backend=host");
  CHECK(pool != NULL);
  CHECK(vmm_pmr_pool_destroy(pool) == 0);

  pool = vmm_pmr_pool_create(0,
                             " backend = host , footprint_limit=1.5,release_threshold=64MiB, "
                             "reservation_size=1GiB");
  CHECK(pool != NULL);
  if (pool != NULL) {
    vmm_pmr_stats stats;
    CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
    CHECK(stats.reserved_bytes == (uint64_t)1 << 30);
    /* A live allocation at destruction is counted (and reported as a leak on stderr). */
    CHECK(vmm_pmr_pool_allocate(pool, 4096, NULL) != NULL);
    CHECK(vmm_pmr_pool_destroy(pool) == 1);
  }
}

static void test_bad_options(void) {
  CHECK(vmm_pmr_pool_create(0, "backend=host,footprint_limit=0.5") == NULL);
  CHECK(error_says("footprint_limit=0.5") && error_says(">= 1"));
  CHECK(vmm_pmr_pool_create(0, "backend=host,release_treshold=1GiB") == NULL);
  CHECK(error_says("unknown key 'release_treshold'") && error_says("release_threshold"));
  CHECK(vmm_pmr_pool_create(0, "backend=host,reservation_size=lots") == NULL);
  CHECK(error_says("reservation_size=lots") && error_says("GiB"));
  CHECK(vmm_pmr_pool_create(0, "backend=tpu") == NULL);
  CHECK(error_says("backend=tpu") && error_says("cuda or host"));
  CHECK(vmm_pmr_pool_create(0, "backend=host,backend=host") == NULL);
  CHECK(error_says("twice"));
  CHECK(vmm_pmr_pool_create(0, "backend") == NULL);
  CHECK(error_says("'backend' has no value"));
  CHECK(vmm_pmr_pool_create(-1, "backend=host") == NULL);
  CHECK(error_says("vmm_pmr_pool_create(-1") && error_says("negative"));
  CHECK(vmm_pmr_pool_create(0, "backend=host,record=/nonexistent-directory/trace.csv") == NULL);
  CHECK(error_says("/nonexistent-directory/trace.csv"));
}

static void test_allocate_and_free(void) {
  vmm_pmr_pool* pool = vmm_pmr_pool_create(0, "backend=host");
  void* stream_a = (void*)0xa0;
  void* first;
  void* second;
  void* empty;
  vmm_pmr_stats stats;
  CHECK(pool != NULL);
  if (pool == NULL) return;

  first = vmm_pmr_pool_allocate(pool, 1000, stream_a);
  second = vmm_pmr_pool_allocate(pool, 3000, NULL);
  CHECK(first != NULL && second != NULL && first != second);
  if (first != NULL) memset(first, 0xab, 1000); /* host memory: usable */
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.live_count == 2 && stats.live_bytes == 4000 && stats.allocations == 2);

  CHECK(vmm_pmr_pool_deallocate(pool, first, 1000, stream_a) == 0);
  /* By address: the pool knows the size and the stream. */
  CHECK(vmm_pmr_pool_free(pool, second) == 0);
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.live_count == 0 && stats.deallocations == 2 && stats.deallocation_errors == 0);
  /* The stream's own cache gives the block back at once. */
  CHECK(vmm_pmr_pool_allocate(pool, 1000, stream_a) == first);
  CHECK(vmm_pmr_pool_free(pool, first) == 0);

  /* Zero size: non-NULL, freed either way. */
  empty = vmm_pmr_pool_allocate(pool, 0, stream_a);
  CHECK(empty != NULL);
  CHECK(vmm_pmr_pool_deallocate(pool, empty, 0, stream_a) == 0);
  empty = vmm_pmr_pool_allocate(pool, 0, NULL);
  CHECK(vmm_pmr_pool_free(pool, empty) == 0);

  CHECK(vmm_pmr_pool_settle(pool, stream_a) == 0);
  CHECK(vmm_pmr_pool_trim(pool, 0) > 0);
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.cached_bytes == 0 && stats.mapped_bytes == 0 && stats.trims >= 1);
  CHECK(stats.chunks_released >= 1 && stats.bytes_released > 0);
  CHECK(vmm_pmr_pool_trim(pool, 0) == 0);
  CHECK(vmm_pmr_pool_destroy(pool) == 0);
}

static void count_hook(vmm_pmr_pool* pool, void* user) {
  (void)pool;
  ++*(int*)user;
}

static void test_sleep_and_wake(void) {
  vmm_pmr_pool* pool = vmm_pmr_pool_create(0, "backend=host");
  const size_t size = (size_t)3 << 20;
  unsigned char* weights;
  vmm_pmr_stats stats;
  size_t i;
  size_t wrong = 0;
  int hooks_called = 0;
  CHECK(pool != NULL);
  if (pool == NULL) return;
  weights = vmm_pmr_pool_allocate(pool, size, NULL);
  CHECK(weights != NULL);
  if (weights == NULL) return;
  for (i = 0; i < size; ++i) weights[i] = (unsigned char)(i * 7 + 1);

  CHECK(vmm_pmr_pool_set_sleep_hooks(pool, count_hook, count_hook, &hooks_called) == 0);
  CHECK(vmm_pmr_pool_asleep(pool) == 0);
  CHECK(vmm_pmr_pool_sleep(pool, 1) >= (int64_t)size);
  CHECK(hooks_called == 1);
  CHECK(vmm_pmr_pool_asleep(pool) == 1);
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.sleeping_bytes >= size && stats.live_count == 1);
  CHECK(vmm_pmr_pool_allocate(pool, 100, NULL) == NULL);
  CHECK(error_says("asleep") && error_says("wake"));
  CHECK(vmm_pmr_pool_sleep(pool, 1) == 0);

  CHECK(vmm_pmr_pool_wake(pool) == 0);
  CHECK(hooks_called == 2);
  CHECK(vmm_pmr_pool_asleep(pool) == 0);
  for (i = 0; i < size; ++i) wrong += weights[i] != (unsigned char)(i * 7 + 1);
  CHECK(wrong == 0);
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.sleeping_bytes == 0);
  CHECK(vmm_pmr_pool_free(pool, weights) == 0);

  CHECK(vmm_pmr_pool_sleep(NULL, 1) == -1 && error_says("NULL"));
  CHECK(vmm_pmr_pool_wake(NULL) == -1);
  CHECK(vmm_pmr_pool_asleep(NULL) == -1);
  CHECK(vmm_pmr_pool_set_sleep_hooks(NULL, NULL, NULL, NULL) == -1);
  CHECK(vmm_pmr_pool_destroy(pool) == 0);
}

static void test_bad_arguments(void) {
  vmm_pmr_pool* pool = vmm_pmr_pool_create(0, "backend=host");
  int on_the_stack = 0;
  char* live;
  char* freed;
  vmm_pmr_stats stats;
  CHECK(pool != NULL);
  if (pool == NULL) return;

  /* NULL pools */
  CHECK(vmm_pmr_pool_allocate(NULL, 8, NULL) == NULL);
  CHECK(error_says("vmm_pmr_pool_allocate") && error_says("NULL"));
  CHECK(vmm_pmr_pool_deallocate(NULL, &on_the_stack, 8, NULL) == -1);
  CHECK(error_says("vmm_pmr_pool_deallocate"));
  CHECK(vmm_pmr_pool_free(NULL, &on_the_stack) == -1);
  CHECK(error_says("vmm_pmr_pool_free"));
  CHECK(vmm_pmr_pool_trim(NULL, 0) == -1);
  CHECK(vmm_pmr_pool_settle(NULL, NULL) == -1);
  CHECK(vmm_pmr_pool_stats(NULL, &stats) == -1);
  CHECK(vmm_pmr_pool_stats(pool, NULL) == -1);
  CHECK(error_says("vmm_pmr_stats"));
  CHECK(vmm_pmr_pool_destroy(NULL) == -1);
  CHECK(error_says("vmm_pmr_pool_destroy"));

  live = vmm_pmr_pool_allocate(pool, 4096, NULL);
  freed = vmm_pmr_pool_allocate(pool, 8192, NULL);
  CHECK(live != NULL && freed != NULL);
  CHECK(vmm_pmr_pool_deallocate(pool, freed, 8192, NULL) == 0);

  /* A foreign pointer, a double free, an interior pointer, a wrong size. */
  CHECK(vmm_pmr_pool_deallocate(pool, &on_the_stack, sizeof on_the_stack, NULL) == -1);
  CHECK(error_says("vmm_pmr_pool_deallocate(") && error_says("not allocated by this resource"));
  CHECK(vmm_pmr_pool_free(pool, &on_the_stack) == -1);
  CHECK(error_says("vmm_pmr_pool_free(") && error_says("not allocated by this resource"));
  CHECK(vmm_pmr_pool_deallocate(pool, freed, 8192, NULL) == -1);
  CHECK(error_says("double free"));
  CHECK(vmm_pmr_pool_free(pool, freed) == -1);
  CHECK(error_says("double free"));
  CHECK(vmm_pmr_pool_free(pool, live + 64) == -1);
  CHECK(error_says("inside an allocation"));
  CHECK(vmm_pmr_pool_deallocate(pool, live, 4095, NULL) == -1);
  CHECK(error_says("size differs"));
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.live_count == 1 && stats.deallocation_errors == 6);

  /* An absurd size: NULL, the size and the reason named, and the pool still works. */
  CHECK(vmm_pmr_pool_allocate(pool, (size_t)1 << 62, NULL) == NULL);
  CHECK(error_says("vmm_pmr_pool_allocate(4611686018427387904 bytes") &&
        error_says("out of memory"));
  CHECK(vmm_pmr_pool_allocate(pool, SIZE_MAX, NULL) == NULL);
  CHECK(error_says("overflows"));
  CHECK(vmm_pmr_pool_deallocate(pool, live, 4096, NULL) == 0);
  CHECK(vmm_pmr_pool_destroy(pool) == 0);
}

static void test_record(const char* trace) {
  char options[512];
  vmm_pmr_pool* pool;
  void* stream_b = (void*)0xb0;
  void* first = NULL;
  void* second = NULL;
  trace_row rows[8];
  snprintf(options, sizeof options, "backend=host,record=%s", trace);
  pool = vmm_pmr_pool_create(0, options);
  CHECK(pool != NULL);
  if (pool == NULL) return;
  first = vmm_pmr_pool_allocate(pool, 1000, stream_b);
  second = vmm_pmr_pool_allocate(pool, 5000, NULL);
  CHECK(vmm_pmr_pool_deallocate(pool, first, 1000, stream_b) == 0);
  CHECK(vmm_pmr_pool_free(pool, second) == 0);
  CHECK(vmm_pmr_pool_allocate(pool, (size_t)1 << 62, stream_b) == NULL);
  CHECK(vmm_pmr_pool_destroy(pool) == 0); /* flushes the trace */

  CHECK(read_trace(trace, rows, 8) == 5);
  CHECK(row_is(&rows[0], "allocate", first, 1000, 0xb0));
  CHECK(row_is(&rows[1], "allocate", second, 5000, 0));
  CHECK(row_is(&rows[2], "free", first, 1000, 0xb0));
  CHECK(row_is(&rows[3], "free", second, 5000, 0));
  CHECK(row_is(&rows[4], "allocate failure", NULL, (size_t)1 << 62, 0xb0));
}

/* ---- device pools and the framework hooks (VMM_PMR_CONF set by meson) ---- */

/* Tags: the thread's tag picks the pool the hooks allocate from; frees find their pool;
 * a tag's pool sleeps and wakes alone. */
static void use_tagged_pools(void) {
  /* Device 2: its trace (FILE.2) is not read back. */
  vmm_pmr_pool* untagged = vmm_pmr_device_pool(2);
  void* stream = (void*)0x10;
  char too_long[80];
  unsigned char* weights;
  unsigned char* activations;
  vmm_pmr_pool* tagged;
  vmm_pmr_stats stats;
  CHECK(strcmp(vmm_pmr_current_tag(), "") == 0);
  CHECK(vmm_pmr_set_tag("weights") == 0);
  CHECK(strcmp(vmm_pmr_current_tag(), "weights") == 0);
  weights = vmm_pmr_torch_malloc(4096, 2, stream);
  CHECK(vmm_pmr_set_tag(NULL) == 0);
  activations = vmm_pmr_torch_malloc(4096, 2, stream);
  tagged = vmm_pmr_tagged_pool(2, "weights");
  CHECK(weights != NULL && activations != NULL && tagged != NULL && tagged != untagged);
  CHECK(vmm_pmr_tagged_pool(2, "weights") == tagged);
  CHECK(vmm_pmr_tagged_pool(2, "") == untagged && vmm_pmr_tagged_pool(2, NULL) == untagged);
  CHECK(vmm_pmr_pool_holding(2, weights) == tagged);
  CHECK(vmm_pmr_pool_holding(2, activations) == untagged);
  if (weights == NULL || tagged == NULL) return;
  memset(weights, 0x5a, 4096);

  /* The tag's pool sleeps alone: the untagged pool keeps its memory. */
  CHECK(vmm_pmr_pool_sleep(tagged, 1) > 0);
  CHECK(vmm_pmr_pool_asleep(untagged) == 0);
  CHECK(vmm_pmr_set_tag("weights") == 0);
  CHECK(vmm_pmr_torch_malloc(64, 2, stream) == NULL);
  CHECK(error_says("asleep"));
  CHECK(vmm_pmr_set_tag("") == 0);
  CHECK(vmm_pmr_pool_wake(tagged) == 0);
  CHECK(weights[0] == 0x5a && weights[4095] == 0x5a);

  vmm_pmr_torch_free(weights, 4096, 2, stream); /* found by address, whatever the tag */
  vmm_pmr_torch_free(activations, 4096, 2, stream);
  CHECK(vmm_pmr_pool_stats(tagged, &stats) == 0);
  CHECK(stats.live_count == 0 && stats.deallocations == 1 && stats.deallocation_errors == 0);

  memset(too_long, 'x', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  CHECK(vmm_pmr_set_tag(too_long) == -1 && error_says("at most 63"));
  CHECK(strcmp(vmm_pmr_current_tag(), "") == 0);
  CHECK(vmm_pmr_tagged_pool(2, too_long) == NULL && error_says("at most 63"));
}

/* The child's part: exits 0 when its checks held. Its exit closes the traces. */
static void use_device_pools(void) {
  void* stream = (void*)0x10;
  void* tensor;
  void* array;
  void* on_device_1;
  int on_the_stack = 0;
  vmm_pmr_stats stats;
  vmm_pmr_pool* pool = vmm_pmr_device_pool(0);
  CHECK(pool != NULL);
  CHECK(vmm_pmr_device_pool(0) == pool);
  CHECK(vmm_pmr_device_pool(1) != NULL && vmm_pmr_device_pool(1) != pool);
  CHECK(vmm_pmr_device_pool(-1) == NULL);
  CHECK(error_says("vmm_pmr_device_pool(-1)") && error_says("out of range"));
  CHECK(vmm_pmr_device_pool(1000) == NULL);
  if (pool == NULL) exit(1);

  tensor = vmm_pmr_torch_malloc(1000, 0, stream);
  CHECK(tensor != NULL);
  vmm_pmr_torch_free(tensor, 1000, 0, stream);
  array = vmm_pmr_cupy_malloc(NULL, 2000, 0);
  CHECK(array != NULL);
  vmm_pmr_cupy_free(NULL, array, 0);
  on_device_1 = vmm_pmr_torch_malloc(64, 1, NULL);
  CHECK(on_device_1 != NULL);
  vmm_pmr_torch_free(on_device_1, 64, 1, NULL);
  /* The options of VMM_PMR_CONF reached the pool. */
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.reserved_bytes == (uint64_t)1 << 30);
  CHECK(stats.live_count == 0 && stats.allocations == 2 && stats.deallocations == 2);

  /* Bad frees through the hooks: no return value, no abort; counted, in the last error. */
  vmm_pmr_torch_free(&on_the_stack, sizeof on_the_stack, 0, stream);
  CHECK(error_says("not allocated by this resource"));
  vmm_pmr_torch_free(&on_the_stack, sizeof on_the_stack, 0, stream);
  vmm_pmr_cupy_free(NULL, &on_the_stack, 0);
  vmm_pmr_cupy_free(NULL, array, 0);
  CHECK(error_says("double free"));
  CHECK(vmm_pmr_pool_stats(pool, &stats) == 0);
  CHECK(stats.deallocation_errors == 4);
  /* An allocation the pool cannot serve: NULL and the last error. */
  CHECK(vmm_pmr_torch_malloc((size_t)1 << 62, 0, stream) == NULL);
  CHECK(error_says("out of memory"));
  CHECK(vmm_pmr_cupy_malloc(NULL, 8, -3) == NULL);
  CHECK(error_says("device -3"));

  use_tagged_pools();

  /* Never destroyed by the library; exit() flushes the traces. */
  tensor = vmm_pmr_torch_malloc(1000, 0, stream);
  vmm_pmr_torch_free(tensor, 1000, 0, stream);
  exit(failures == 0 ? 0 : 1);
}

static void test_device_pools(const char* trace) {
  char trace_1[512];
  trace_row rows[16];
  int status = 0;
  int count;
  pid_t child = fork();
  if (child == 0) use_device_pools();
  CHECK(child > 0);
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  /* Device 0: the torch pair, the cupy pair (legacy stream; the free by address with the
   * allocation's size), the bad frees as called (by address: size 0 when nothing is live
   * there), the failure, the last pair, flushed at exit. */
  count = read_trace(trace, rows, 16);
  CHECK(count == 11);
  if (count == 11) {
    CHECK(strcmp(rows[0].action, "allocate") == 0 && rows[0].size == 1000 &&
          rows[0].stream == 0x10);
    CHECK(row_is(&rows[1], "free", (void*)rows[0].pointer, 1000, 0x10));
    CHECK(strcmp(rows[2].action, "allocate") == 0 && rows[2].size == 2000 && rows[2].stream == 0);
    CHECK(row_is(&rows[3], "free", (void*)rows[2].pointer, 2000, 0));
    CHECK(strcmp(rows[4].action, "free") == 0 && rows[4].size == sizeof(int));
    CHECK(strcmp(rows[6].action, "free") == 0 && rows[6].size == 0);
    CHECK(row_is(&rows[7], "free", (void*)rows[2].pointer, 0, 0));
    CHECK(row_is(&rows[8], "allocate failure", NULL, (size_t)1 << 62, 0x10));
    CHECK(strcmp(rows[9].action, "allocate") == 0 && rows[9].size == 1000);
    CHECK(row_is(&rows[10], "free", (void*)rows[9].pointer, 1000, 0x10));
  }
  /* Device 1 writes TRACE.1. */
  snprintf(trace_1, sizeof trace_1, "%s.1", trace);
  count = read_trace(trace_1, rows, 16);
  CHECK(count == 2);
  if (count == 2) {
    CHECK(strcmp(rows[0].action, "allocate") == 0 && rows[0].size == 64);
    CHECK(row_is(&rows[1], "free", (void*)rows[0].pointer, 64, 0));
  }
}

static void test_bad_configuration(void) {
  int on_the_stack = 0;
  CHECK(vmm_pmr_device_pool(0) == NULL);
  CHECK(error_says("VMM_PMR_CONF") && error_says("footprint_limit=banana"));
  CHECK(vmm_pmr_torch_malloc(8, 0, NULL) == NULL);
  CHECK(error_says("VMM_PMR_CONF"));
  CHECK(vmm_pmr_cupy_malloc(NULL, 8, 0) == NULL);
  vmm_pmr_torch_free(&on_the_stack, 8, 0, NULL); /* reported once on stderr, no abort */
  vmm_pmr_cupy_free(NULL, &on_the_stack, 0);
  CHECK(error_says("VMM_PMR_CONF"));
  /* Owned pools do not read VMM_PMR_CONF. */
  {
    vmm_pmr_pool* pool = vmm_pmr_pool_create(0, "backend=host");
    CHECK(pool != NULL);
    if (pool != NULL) CHECK(vmm_pmr_pool_destroy(pool) == 0);
  }
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  CHECK(strcmp(vmm_pmr_last_error(), "") == 0);
  if (strcmp(mode, "pools") == 0 && argc > 2) {
    test_create_and_destroy();
    test_bad_options();
    test_allocate_and_free();
    test_sleep_and_wake();
    test_bad_arguments();
    test_record(argv[2]);
  } else if (strcmp(mode, "device") == 0 && argc > 2) {
    test_device_pools(argv[2]);
  } else if (strcmp(mode, "bad_conf") == 0) {
    test_bad_configuration();
  } else {
    fprintf(stderr, "usage: %s pools TRACE | device TRACE | bad_conf\n", argv[0]);
    return 2;
  }
  if (failures != 0) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures == 0 ? 0 : 1;
}
