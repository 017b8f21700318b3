/*
 * mksizeclasses.c - host tool that computes the small-object size classes
 * with the rules of Go's runtime generator and prints gc/sizeclasses.h.
 *
 *   mksizeclasses > gc/sizeclasses.h     (or: cmake --build . --target sizeclasses)
 *
 * The classes must be Go's so that statistics, traces and heap profiles look
 * like Go's (docs: ../shared/docs/go-runtime-facts.md §6.2). The rules:
 *
 *  1. Walk candidate sizes 8, 16, 24, ... up to 32 KiB. The step is the
 *     current alignment, which changes only when the size reaches a power of
 *     two: 16 from 32, size/8 from 128, 256 from 2048.
 *  2. For each size take the fewest 8 KiB pages whose tail (the bytes left
 *     after packing whole objects) is at most 1/8 of the span, so tail waste
 *     is bounded by 12.5%.
 *  3. If the previous class uses the same page count and fits the same
 *     number of objects, the smaller size buys nothing: the previous class
 *     grows to this size instead of a new class being added.
 *  4. Finally each class grows to the largest size that still fits the same
 *     number of objects in its span, rounded down to a multiple of 128 (the
 *     granularity of the large lookup table, so lookups stay exact).
 *
 * Everything is computed and verified before anything is printed, so a
 * failing run never leaves a half-written header behind a shell redirect.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE_SIZE 8192
#define MAX_SMALL_SIZE 32768
#define NUM_CLASSES 68 /* including the dummy class 0 */
#define SMALL_SIZE_DIV 8
#define SMALL_SIZE_MAX 1024
#define LARGE_SIZE_DIV 128

#define CLASS8_LEN (SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1)
#define CLASS128_LEN ((MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1)

struct sizeclass {
  uint32_t size;   /* bytes per object */
  uint32_t npages; /* pages per span */
  uint32_t nelems; /* objects per span */
  uint32_t divmagic;
};

static struct sizeclass classes[NUM_CLASSES];
static int nclasses;
static uint8_t class8[CLASS8_LEN];
static uint8_t class128[CLASS128_LEN];

static void fail(const char *fmt, ...) {
  va_list ap;
  fputs("mksizeclasses: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static int is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

static void make_classes(void) {
  nclasses = 1; /* class 0: "no class" (large objects), all fields zero */
  uint32_t align = 8;
  for (uint32_t size = align; size <= MAX_SMALL_SIZE; size += align) {
    if (is_pow2(size)) {
      /* Larger objects tolerate coarser steps: the relative rounding waste
       * (align/size) stays near 1/8 or below. */
      if (size >= 2048)
        align = 256;
      else if (size >= 128)
        align = size / 8;
      else if (size >= 32)
        align = 16;
    }
    if (!is_pow2(align)) fail("alignment %" PRIu32 " is not a power of two", align);

    uint32_t span = PAGE_SIZE;
    while (span % size > span / 8) span += PAGE_SIZE;
    uint32_t npages = span / PAGE_SIZE;

    struct sizeclass *prev = &classes[nclasses - 1];
    if (nclasses > 1 && prev->npages == npages && span / prev->size == span / size) {
      prev->size = size;
      continue;
    }
    if (nclasses == NUM_CLASSES)
      fail("more than %d size classes (the class count is a contract)", NUM_CLASSES - 1);
    classes[nclasses++] = (struct sizeclass){.size = size, .npages = npages};
  }
  if (nclasses != NUM_CLASSES)
    fail("%d size classes, expected %d", nclasses, NUM_CLASSES);

  /* Rule 4, e.g. 8448 B (6 objects in 7 pages) becomes 9472 B, still 6 in 7
   * pages. Rounding down to LARGE_SIZE_DIV leaves small classes unchanged. */
  for (int c = 1; c < nclasses; c++) {
    struct sizeclass *sc = &classes[c];
    uint32_t span = sc->npages * PAGE_SIZE;
    uint32_t bigger = (span / (span / sc->size)) & ~(uint32_t)(LARGE_SIZE_DIV - 1);
    if (bigger > sc->size) sc->size = bigger;
    sc->nelems = span / sc->size;
  }
}

/* Dividing an offset within a span by the object size is on the marking hot
 * path (pointer -> object start). A multiply and shift replaces the division;
 * it is exact because span offsets are small (< 2^17) compared with the
 * 2^32 scale, and that is checked below for every offset anyway. */
static void compute_divmagic(void) {
  for (int c = 1; c < nclasses; c++) {
    struct sizeclass *sc = &classes[c];
    sc->divmagic = (uint32_t)(UINT32_MAX / sc->size) + 1;
    uint32_t span = sc->npages * PAGE_SIZE;
    for (uint32_t off = 0; off < span; off++) {
      uint32_t q = (uint32_t)(((uint64_t)off * sc->divmagic) >> 32);
      if (q != off / sc->size)
        fail("divmagic %#" PRIx32 " of class %d (size %" PRIu32 ") gives %" PRIu32
             " for offset %" PRIu32 ", expected %" PRIu32,
             sc->divmagic, c, sc->size, q, off, off / sc->size);
    }
  }
}

/* Smallest class whose objects hold size bytes (size 0 gets class 1: a
 * zero-byte allocation still returns a distinct 8-byte object). */
static int class_for(uint32_t size) {
  for (int c = 1; c < nclasses; c++)
    if (classes[c].size >= size) return c;
  fail("no class for size %" PRIu32, size);
  return 0;
}

static void make_lookup_tables(void) {
  for (uint32_t i = 0; i < CLASS8_LEN; i++) class8[i] = (uint8_t)class_for(i * SMALL_SIZE_DIV);
  for (uint32_t i = 0; i < CLASS128_LEN; i++)
    class128[i] = (uint8_t)class_for(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
}

/* The lookup the allocator does, exactly as the header documents it. */
static int lookup(uint32_t size) {
  if (size <= SMALL_SIZE_MAX - SMALL_SIZE_DIV)
    return class8[(size + SMALL_SIZE_DIV - 1) / SMALL_SIZE_DIV];
  return class128[(size - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1) / LARGE_SIZE_DIV];
}

static void verify(void) {
  if (classes[1].size != 8) fail("class 1 is %" PRIu32 " bytes, expected 8", classes[1].size);
  if (classes[nclasses - 1].size != MAX_SMALL_SIZE)
    fail("largest class is %" PRIu32 " bytes, expected %d", classes[nclasses - 1].size,
         MAX_SMALL_SIZE);
  for (int c = 1; c < nclasses; c++) {
    const struct sizeclass *sc = &classes[c];
    uint32_t span = sc->npages * PAGE_SIZE;
    if (c > 1 && sc->size <= classes[c - 1].size) fail("class %d does not grow", c);
    if (sc->size % 8 != 0) fail("class %d size %" PRIu32 " is not 8-aligned", c, sc->size);
    if (span % sc->size > span / 8) fail("class %d wastes more than 1/8 of its span", c);
    /* The header stores pages in uint8_t and objects in uint16_t. */
    if (sc->npages > UINT8_MAX || sc->nelems > UINT16_MAX) fail("class %d overflows", c);
  }
  for (uint32_t size = 0; size <= MAX_SMALL_SIZE; size++)
    if (lookup(size) != class_for(size))
      fail("lookup(%" PRIu32 ") = class %d, expected %d", size, lookup(size), class_for(size));
}

/* Prints an array initializer, per_line values to a line, each in width
 * digits (hex: 0x and width hex digits). */
static void print_array(const char *decl, const char *comment, int n, uint32_t (*get)(int),
                        int per_line, int width, int hex) {
  printf("\n/* %s */\n", comment);
  printf("static const %s\n    __attribute__((unused)) = {", decl);
  for (int i = 0; i < n; i++) {
    if (i % per_line == 0) printf("\n   ");
    if (hex)
      printf(" 0x%0*" PRIx32 ",", width, get(i));
    else
      printf(" %*" PRIu32 ",", width, get(i));
  }
  printf("\n};\n");
}

static uint32_t get_size(int i) { return classes[i].size; }
static uint32_t get_npages(int i) { return classes[i].npages; }
static uint32_t get_nelems(int i) { return classes[i].nelems; }
static uint32_t get_divmagic(int i) { return classes[i].divmagic; }
static uint32_t get_class8(int i) { return class8[i]; }
static uint32_t get_class128(int i) { return class128[i]; }

static void print_table_comment(void) {
  printf("/*\n"
         " * Small-object size classes, computed with the rules of Go's runtime\n"
         " * (mksizeclasses.go); the table is Go's, unchanged from Go 1.19 on.\n"
         " *\n"
         " * class  bytes/obj  bytes/span  objects  tail waste  max waste  min align\n");
  uint32_t prev = 0;
  for (int c = 1; c < nclasses; c++) {
    const struct sizeclass *sc = &classes[c];
    uint32_t span = sc->npages * PAGE_SIZE;
    uint32_t tail = span - sc->nelems * sc->size;
    /* Worst case: every object is one byte larger than the previous class,
     * so (size - prev - 1) bytes of each are wasted, plus the tail. */
    double max_waste = (double)((sc->size - prev - 1) * sc->nelems + tail) / span;
    uint32_t align = sc->size & (0u - sc->size); /* lowest set bit, capped at a page */
    if (align > PAGE_SIZE) align = PAGE_SIZE;
    printf(" * %5d  %9" PRIu32 "  %10" PRIu32 "  %7" PRIu32 "  %10" PRIu32 "  %8.2f%%  %9" PRIu32
           "\n",
           c, sc->size, span, sc->nelems, tail, 100 * max_waste, align);
    prev = sc->size;
  }
  printf(" *\n"
         " * tail waste: bytes at the end of a span too small for another object.\n"
         " * max waste: share of the span lost if every object were one byte larger\n"
         " *   than the previous class (the worst rounding), plus the tail.\n"
         " * min align: the alignment every object of the class is guaranteed to have.\n"
         " *\n"
         " * Class 0 stands for large objects (> 32768 bytes, a span of their own).\n"
         " * Lookup for 0 <= size <= 32768:\n"
         " *   size <= TC_SMALL_SIZE_MAX - 8:\n"
         " *     tc_size_to_class8[(size + TC_SMALL_SIZE_DIV - 1) / TC_SMALL_SIZE_DIV]\n"
         " *   else:\n"
         " *     tc_size_to_class128[(size - TC_SMALL_SIZE_MAX + TC_LARGE_SIZE_DIV - 1)\n"
         " *                         / TC_LARGE_SIZE_DIV]\n"
         " * Size 0 maps to class 1 (8 bytes). Object index of byte offset off in a\n"
         " * span of class c: (uint32_t)((off * (uint64_t)tc_class_to_divmagic[c]) >> 32).\n"
         " */\n");
}

static void print_header(void) {
  printf("/* Code generated by gc/mksizeclasses.c; DO NOT EDIT. */\n\n");
  print_table_comment();
  printf("\n#ifndef TC_SIZECLASSES_H\n"
         "#define TC_SIZECLASSES_H\n\n"
         "#include <stdint.h>\n\n");
  printf("#define TC_NUM_SIZE_CLASSES %d\n", NUM_CLASSES);
  printf("#define TC_SMALL_SIZE_DIV %d\n", SMALL_SIZE_DIV);
  printf("#define TC_SMALL_SIZE_MAX %d\n", SMALL_SIZE_MAX);
  printf("#define TC_LARGE_SIZE_DIV %d\n", LARGE_SIZE_DIV);

  print_array("uint32_t tc_class_to_size[TC_NUM_SIZE_CLASSES]", "bytes per object; [0] = 0",
              nclasses, get_size, 8, 5, 0);
  print_array("uint8_t tc_class_to_npages[TC_NUM_SIZE_CLASSES]", "pages per span; [0] = 0",
              nclasses, get_npages, 16, 2, 0);
  print_array("uint16_t tc_class_to_nelems[TC_NUM_SIZE_CLASSES]", "objects per span; [0] = 0",
              nclasses, get_nelems, 12, 4, 0);

  print_array("uint32_t tc_class_to_divmagic[TC_NUM_SIZE_CLASSES]",
              "(uint32_t)(0xFFFFFFFF / size) + 1; [0] = 0", nclasses, get_divmagic, 6, 8, 1);
  print_array("uint8_t tc_size_to_class8[TC_SMALL_SIZE_MAX / TC_SMALL_SIZE_DIV + 1]",
              "class of sizes ((i - 1) * 8, i * 8]; [0] = 1", CLASS8_LEN, get_class8, 16, 2, 0);
  print_array("uint8_t tc_size_to_class128[(32768 - TC_SMALL_SIZE_MAX) / TC_LARGE_SIZE_DIV + 1]",
              "class of sizes (1024 + (i - 1) * 128, 1024 + i * 128]", CLASS128_LEN,
              get_class128, 16, 2, 0);

  printf("\n#endif /* TC_SIZECLASSES_H */\n");
}

int main(void) {
  make_classes();
  compute_divmagic();
  make_lookup_tables();
  verify();
  print_header();
  if (fflush(stdout) != 0 || ferror(stdout)) fail("error writing output");
  return 0;
}
