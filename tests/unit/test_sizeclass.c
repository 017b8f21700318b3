/*
 * test_sizeclass.c - the generated size-class tables (gc/sizeclasses.h)
 * against Go's table and against the properties the allocator relies on.
 * That the checked-in header is exactly the generator's output is checked by
 * tests/test_sizeclasses_generated.sh.
 */
#include "check.h"
#include "sizeclasses.h"

#define PAGE_SIZE 8192
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The specification: Go's size classes (size, pages per span, objects per
 * span), copied by hand from go-runtime-facts.md §6.2, classes 1..67. */
static const struct {
  uint32_t size, npages, nelems;
} go_table[] = {
    {8, 1, 1024},   {16, 1, 512},   {24, 1, 341},   {32, 1, 256},   {48, 1, 170},
    {64, 1, 128},   {80, 1, 102},   {96, 1, 85},    {112, 1, 73},   {128, 1, 64},
    {144, 1, 56},   {160, 1, 51},   {176, 1, 46},   {192, 1, 42},   {208, 1, 39},
    {224, 1, 36},   {240, 1, 34},   {256, 1, 32},   {288, 1, 28},   {320, 1, 25},
    {352, 1, 23},   {384, 1, 21},   {416, 1, 19},   {448, 1, 18},   {480, 1, 17},
    {512, 1, 16},   {576, 1, 14},   {640, 1, 12},   {704, 1, 11},   {768, 1, 10},
    {896, 1, 9},    {1024, 1, 8},   {1152, 1, 7},   {1280, 1, 6},   {1408, 2, 11},
    {1536, 1, 5},   {1792, 2, 9},   {2048, 1, 4},   {2304, 2, 7},   {2688, 1, 3},
    {3072, 3, 8},   {3200, 2, 5},   {3456, 3, 7},   {4096, 1, 2},   {4864, 3, 5},
    {5376, 2, 3},   {6144, 3, 4},   {6528, 4, 5},   {6784, 5, 6},   {6912, 6, 7},
    {8192, 1, 1},   {9472, 7, 6},   {9728, 6, 5},   {10240, 5, 4},  {10880, 4, 3},
    {12288, 3, 2},  {13568, 5, 3},  {14336, 7, 4},  {16384, 2, 1},  {18432, 9, 4},
    {19072, 7, 3},  {20480, 5, 2},  {21760, 8, 3},  {24576, 3, 1},  {27264, 10, 3},
    {28672, 7, 2},  {32768, 4, 1},
};

/* The lookup the allocator does, as documented in the header. */
static int size_to_class(uint32_t size) {
  if (size <= TC_SMALL_SIZE_MAX - TC_SMALL_SIZE_DIV)
    return tc_size_to_class8[(size + TC_SMALL_SIZE_DIV - 1) / TC_SMALL_SIZE_DIV];
  return tc_size_to_class128[(size - TC_SMALL_SIZE_MAX + TC_LARGE_SIZE_DIV - 1) /
                             TC_LARGE_SIZE_DIV];
}

TEST(table_is_gos) {
  CHECK_OR_RETURN(LEN(go_table) == TC_NUM_SIZE_CLASSES - 1);
  CHECK_EQ(TC_NUM_SIZE_CLASSES, 68);
  CHECK_EQ(tc_class_to_size[0], 0);
  CHECK_EQ(tc_class_to_npages[0], 0);
  CHECK_EQ(tc_class_to_nelems[0], 0);
  CHECK_EQ(tc_class_to_divmagic[0], 0);
  for (int c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    CHECK_EQ(tc_class_to_size[c], go_table[c - 1].size);
    CHECK_EQ(tc_class_to_npages[c], go_table[c - 1].npages);
    CHECK_EQ(tc_class_to_nelems[c], go_table[c - 1].nelems);
  }
}

TEST(lookup_constants) {
  CHECK_EQ(TC_SMALL_SIZE_DIV, 8);
  CHECK_EQ(TC_SMALL_SIZE_MAX, 1024);
  CHECK_EQ(TC_LARGE_SIZE_DIV, 128);
  CHECK_EQ(LEN(tc_size_to_class8), 129);
  CHECK_EQ(LEN(tc_size_to_class128), 249);
  CHECK_EQ(tc_class_to_size[TC_NUM_SIZE_CLASSES - 1], 32768);
}

TEST(sizes_strictly_increase) {
  for (int c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    CHECK(tc_class_to_size[c] > tc_class_to_size[c - 1]);
    CHECK_EQ(tc_class_to_size[c] % 8, 0);
  }
}

TEST(every_size_maps_to_smallest_fitting_class) {
  /* Count mismatches instead of CHECKing each of the 32768 sizes, so a
   * broken table prints one line, not thousands. */
  uint32_t bad = 0, first_bad = 0;
  for (uint32_t size = 1; size <= 32768; size++) {
    int c = size_to_class(size);
    /* The class must fit, and the class below must not. */
    int ok = c >= 1 && c < TC_NUM_SIZE_CLASSES && tc_class_to_size[c] >= size &&
             tc_class_to_size[c - 1] < size;
    if (!ok && bad++ == 0) first_bad = size;
  }
  if (bad)
    fprintf(stderr, "%u sizes map to a wrong class, first: %u -> class %d\n", bad, first_bad,
            size_to_class(first_bad));
  CHECK_EQ(bad, 0);
}

TEST(size_zero_is_class_1) {
  CHECK_EQ(tc_size_to_class8[0], 1);
  CHECK_EQ(size_to_class(0), 1);
  CHECK_EQ(tc_class_to_size[size_to_class(0)], 8);
}

TEST(objects_fill_span) {
  for (int c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    uint32_t span = tc_class_to_npages[c] * PAGE_SIZE;
    CHECK_EQ(tc_class_to_nelems[c], span / tc_class_to_size[c]);
    /* Go's rule: the tail left after the last object is at most 1/8 of the
     * span, so tail waste never exceeds 12.5%. */
    CHECK(span % tc_class_to_size[c] <= span / 8);
  }
}

TEST(divmagic_exact_for_every_offset) {
  for (int c = 1; c < TC_NUM_SIZE_CLASSES; c++) {
    uint32_t size = tc_class_to_size[c], magic = tc_class_to_divmagic[c];
    uint32_t span = tc_class_to_npages[c] * PAGE_SIZE;
    CHECK_EQ(magic, (uint32_t)(0xFFFFFFFFu / size) + 1);
    uint32_t bad = 0;
    for (uint32_t off = 0; off < span; off++)
      if ((uint32_t)((off * (uint64_t)magic) >> 32) != off / size) bad++;
    if (bad) fprintf(stderr, "class %d (size %u): %u wrong offsets\n", c, size, bad);
    CHECK_EQ(bad, 0);
  }
}

CHECK_MAIN()
