/*
 * test_profile_bucket.c - the heap profile's records (profile/bucket.c)
 * driven directly, with made-up stacks and addresses (never dereferenced):
 * Go's three-cycle publication event by event, keying by (stack, size),
 * explicit and swept frees, the "nothing published yet" fold, and the
 * address map under many inserts and removals.
 *
 * This program allocates nothing from the GC heap, so no real sample or
 * collection interferes; the cycle hooks are called by hand in the order
 * cycle.c calls them (next_cycle with the world stopped, flush after the
 * restart, post_sweep after gc_collect's sweep). Tests run in file order
 * and share the records; each uses its own stacks.
 */
#include "check.h"
#include "../../profile/bucket.h"
#include "../../profile/scratch.h"

static uintptr_t next_addr = 0x100000000;

/* A fresh fake object address. */
static uintptr_t addr_of(uintptr_t size) {
  uintptr_t a = next_addr;
  next_addr += size < 16 ? 16 : size;
  return a;
}

/* The published record of the bucket (stack tag, size); zeros if absent. */
static tc_memrecord_cycle_t active_of(uintptr_t tag, uintptr_t size) {
  tc_scratch_t a = TC_SCRATCH_INIT;
  tc_bucket_snap_t *s;
  long n = tc_bucket_snapshot(&a, &s);
  tc_memrecord_cycle_t r = {0, 0, 0, 0};
  for (long i = 0; i < n; i++)
    if (s[i].b->nstk == 3 && s[i].b->stk[0] == tag && s[i].b->size == size) r = s[i].active;
  tc_scratch_free_all(&a);
  return r;
}

static void stack_of(uintptr_t tag, uintptr_t stk[3]) {
  stk[0] = tag;
  stk[1] = 0x401000;
  stk[2] = 0x402000;
}

static void alloc_n(uintptr_t tag, uintptr_t size, int n, uintptr_t *addrs) {
  uintptr_t stk[3];
  stack_of(tag, stk);
  for (int i = 0; i < n; i++) {
    uintptr_t a = addr_of(size);
    if (addrs) addrs[i] = a;
    CHECK(tc_bucket_record_alloc(a, size, stk, 3));
  }
}

/* What cycle.c does around one collection, as hooks. */
static void ordinary_cycle(void) {
  tc_bucket_next_cycle(); /* mark termination, world stopped */
  tc_bucket_flush();      /* right after the restart */
}

TEST(before_any_cycle_everything_shows) {
  /* No record has published anything: a reader folds all cycles in, so a
   * program that never collects still gets a profile (Go's MemProfile). */
  alloc_n(0xA1, 32, 5, NULL);
  tc_memrecord_cycle_t r = active_of(0xA1, 32);
  CHECK_EQ(r.allocs, 5);
  CHECK_EQ(r.alloc_bytes, 160);
  CHECK_EQ(r.frees, 0);
}

TEST(allocation_published_two_cycles_later) {
  alloc_n(0xB1, 48, 3, NULL);
  CHECK_EQ(active_of(0xB1, 48).allocs, 0); /* not yet: a cycle has to complete */
  ordinary_cycle();
  /* The mark termination that ended this cycle saw these objects, but its
   * sweep has not run: publishing now would count garbage as in use. */
  CHECK_EQ(active_of(0xB1, 48).allocs, 0);
  ordinary_cycle();
  tc_memrecord_cycle_t r = active_of(0xB1, 48);
  CHECK_EQ(r.allocs, 3);
  CHECK_EQ(r.alloc_bytes, 144);
}

TEST(sweep_free_published_with_the_next_cycle) {
  uintptr_t a[4];
  alloc_n(0xC1, 64, 4, a);
  ordinary_cycle();
  ordinary_cycle();
  CHECK_EQ(active_of(0xC1, 64).allocs, 4);
  /* The sweep after some mark termination frees two of them (one bitmap
   * word: a[0] and a[1] are adjacent slots of 64 bytes). */
  CHECK_EQ(a[1] - a[0], 64);
  tc_bucket_record_sweep(a[0], 64, 0x3);
  CHECK_EQ(active_of(0xC1, 64).frees, 0);
  ordinary_cycle();
  tc_memrecord_cycle_t r = active_of(0xC1, 64);
  CHECK_EQ(r.frees, 2);
  CHECK_EQ(r.free_bytes, 128);
  CHECK_EQ(r.allocs, 4);
}

TEST(explicit_free_published_like_an_allocation) {
  uintptr_t a[2];
  alloc_n(0xD1, 80, 2, a);
  tc_bucket_record_free(a[0], 80); /* gc_free in the same cycle */
  ordinary_cycle();
  ordinary_cycle();
  tc_memrecord_cycle_t r = active_of(0xD1, 80);
  CHECK_EQ(r.allocs, 2);
  CHECK_EQ(r.frees, 1); /* together: in-use never counts a freed object */
  tc_bucket_record_free(a[1], 80);
  ordinary_cycle();
  CHECK_EQ(active_of(0xD1, 80).frees, 1);
  ordinary_cycle();
  CHECK_EQ(active_of(0xD1, 80).frees, 2);
}

TEST(gc_collect_publishes_its_own_cycle) {
  uintptr_t a[3];
  alloc_n(0xE1, 96, 3, a);
  /* gc_collect: mark termination, flush, a full sweep that frees one of
   * them, then the post-sweep flush. */
  tc_bucket_next_cycle();
  tc_bucket_flush();
  tc_bucket_record_sweep(a[2], 96, 0x1);
  tc_bucket_post_sweep();
  tc_memrecord_cycle_t r = active_of(0xE1, 96);
  CHECK_EQ(r.allocs, 3);
  CHECK_EQ(r.frees, 1);
  CHECK_EQ(r.alloc_bytes - r.free_bytes, 192);
  /* Allocations after that collection wait for the next one. */
  alloc_n(0xE1, 96, 1, NULL);
  CHECK_EQ(active_of(0xE1, 96).allocs, 3);
  tc_bucket_next_cycle();
  tc_bucket_flush();
  tc_bucket_post_sweep();
  CHECK_EQ(active_of(0xE1, 96).allocs, 4);
}

TEST(keyed_by_stack_and_slot_size) {
  uint64_t before = tc_bucket_count();
  alloc_n(0xF1, 32, 2, NULL);
  alloc_n(0xF1, 48, 2, NULL); /* same stack, another size: another bucket */
  alloc_n(0xF2, 32, 2, NULL); /* another stack */
  alloc_n(0xF1, 32, 2, NULL); /* same key: same bucket */
  CHECK_EQ(tc_bucket_count() - before, 3);
  uintptr_t deep[64];
  for (int i = 0; i < 64; i++) deep[i] = 0x500000 + (uintptr_t)i * 16;
  CHECK(tc_bucket_record_alloc(addr_of(16), 16, deep, 64));
  CHECK(tc_bucket_record_alloc(addr_of(16), 16, deep, 63)); /* a prefix is another stack */
  CHECK_EQ(tc_bucket_count() - before, 5);
  ordinary_cycle();
  ordinary_cycle();
  CHECK_EQ(active_of(0xF1, 32).allocs, 4);
  CHECK_EQ(active_of(0xF1, 48).allocs, 2);
  CHECK_EQ(active_of(0xF2, 32).allocs, 2);
}

TEST(address_map_many_objects) {
  enum { N = 200000 };
  static uintptr_t a[N];
  uint64_t live0 = tc_bucket_live_objects();
  alloc_n(0x1001, 16, N, a);
  CHECK_EQ(tc_bucket_live_objects() - live0, N);
  /* Free in a scrambled order (a stride coprime with N), through both
   * paths, so the map's deletions shift entries in every pattern. */
  for (long k = 0, i = 0; k < N; k++, i = (i + 7919) % N) {
    if (k % 2) tc_bucket_record_free(a[i], 16);
    else tc_bucket_record_sweep(a[i], 16, 1);
  }
  CHECK_EQ(tc_bucket_live_objects(), live0);
  /* Freed addresses may be sampled again. */
  uintptr_t stk[3];
  stack_of(0x1001, stk);
  for (int i = 0; i < 1000; i++) CHECK(tc_bucket_record_alloc(a[i], 16, stk, 3));
  CHECK_EQ(tc_bucket_live_objects() - live0, 1000);
  for (int i = 0; i < 1000; i++) tc_bucket_record_free(a[i], 16);
  ordinary_cycle();
  ordinary_cycle();
  tc_memrecord_cycle_t r = active_of(0x1001, 16);
  CHECK_EQ(r.allocs, N + 1000);
  CHECK_EQ(r.frees, N + 1000);
  CHECK(tc_bucket_sys() > 0);
}

CHECK_MAIN()
