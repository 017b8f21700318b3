/*
 * hello.c - the smallest useful tricolor program.
 *
 * Builds a linked list with gc_alloc (no free anywhere), drops it, runs a
 * full collection and prints what the heap looked like before and after.
 *
 *   cc hello.c $(pkg-config --cflags --libs tricolor) && ./a.out
 */
#include <stdio.h>
#include <tricolor.h>

struct node {
  struct node *next;
  long value;
};

/* Build and sum the list in a function of its own, so that once it returns
 * no pointer to the list is left in main's frame. */
__attribute__((noinline)) static long build_and_sum(long n, gc_memstats *m) {
  struct node *head = NULL;
  for (long i = 1; i <= n; i++) {
    struct node *nd = gc_alloc(sizeof *nd); /* zeroed, scanned for pointers */
    if (!nd) return -1;
    nd->value = i;
    nd->next = head;
    head = nd;
  }
  gc_read_memstats(m); /* the list is still reachable here */
  long sum = 0;
  for (struct node *p = head; p; p = p->next) sum += p->value;
  return sum;
}

static double mib(uint64_t bytes) { return bytes / (1024.0 * 1024.0); }

int main(void) {
  const long n = 100000;
  gc_memstats with_list, after;

  long sum = build_and_sum(n, &with_list);
  gc_collect(); /* the list is unreachable now: a full cycle reclaims it */
  gc_read_memstats(&after);

  printf("hello from tricolor %d.%d.%d\n", GC_VERSION_MAJOR, GC_VERSION_MINOR,
         GC_VERSION_PATCH);
  printf("built a list of %ld nodes (sum %ld, expected %ld)\n", n, sum,
         n * (n + 1) / 2);
  printf("  with the list:  heap_alloc %6.2f MiB, %8llu objects\n",
         mib(with_list.heap_alloc), (unsigned long long)with_list.heap_objects);
  printf("  after gc:       heap_alloc %6.2f MiB, %8llu objects\n",
         mib(after.heap_alloc), (unsigned long long)after.heap_objects);
  printf("  allocated %.2f MiB in %llu objects, %u cycles (%u forced), heap_sys %.2f MiB\n",
         mib(after.total_alloc), (unsigned long long)after.mallocs, after.num_gc,
         after.num_forced_gc, mib(after.heap_sys));
  return sum == n * (n + 1) / 2 ? 0 : 1;
}
