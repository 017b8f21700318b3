/*
 * uffd_uapi.h - the parts of the kernel's userfaultfd and pagemap interface
 * (Linux >= 6.7) that Debian 12's headers predate, declared from the
 * kernel's uapi (linux/userfaultfd.h, linux/fs.h): asynchronous
 * write-protect and PAGEMAP_SCAN. Used by gc/dirty.c and
 * bench/protect_cost.c; plain C, no library state.
 */
#ifndef TC_UFFD_UAPI_H
#define TC_UFFD_UAPI_H

#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define TC_UFFD_FEATURE_WP_UNPOPULATED (1ull << 13)
#define TC_UFFD_FEATURE_WP_ASYNC (1ull << 15)

struct tc_page_region {
  uint64_t start, end, categories;
};

struct tc_pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define TC_PAGEMAP_SCAN _IOWR('f', 16, struct tc_pm_scan_arg)
#define TC_PAGE_IS_WRITTEN (1ull << 1)
#define TC_PAGE_IS_PRESENT (1ull << 3)
#define TC_PAGE_IS_SWAPPED (1ull << 4)
#define TC_PM_SCAN_WP_MATCHING (1ull << 0)
#define TC_PM_SCAN_CHECK_WPASYNC (1ull << 1)

#endif
