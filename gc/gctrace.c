/*
 * gctrace.c - Go-format gctrace lines (gctrace.h).
 */
#include "gctrace.h"

#include <stdio.h>

#include "error.h"

int tc_gctrace_fmt_ms(char *buf, uint64_t ns) {
  if (ns >= 10000000) return sprintf(buf, "%llu", (unsigned long long)(ns / 1000000));
  /* Two significant digits, at most three decimals (Go's fmtNSAsMS). */
  uint64_t x = ns / 1000;
  if (x == 0) return sprintf(buf, "0");
  int dec = 3;
  while (x >= 100) {
    x /= 10;
    dec--;
  }
  /* x has one or two digits and represents x * 10^-dec ms. */
  char digits[24];
  int n = sprintf(digits, "%llu", (unsigned long long)x);
  if (dec == 0) return sprintf(buf, "%s", digits);
  /* Insert the decimal point dec digits from the right, padding zeros. */
  char tmp[24];
  int pad = dec - n + 1;
  int k = 0;
  for (int i = 0; i < pad; i++) tmp[k++] = '0';
  for (int i = 0; i < n; i++) tmp[k++] = digits[i];
  tmp[k] = 0;
  int intlen = k - dec;
  int o = 0;
  for (int i = 0; i < intlen; i++) buf[o++] = tmp[i];
  buf[o++] = '.';
  for (int i = intlen; i < k; i++) buf[o++] = tmp[i];
  buf[o] = 0;
  return o;
}

void tc_gctrace_print(const tc_cycle_record_t *r) {
  uint64_t a = r->stw1_ns;
  uint64_t b = r->mode == 2 ? 0 : r->stw_start_ns - (r->sweep_term_ns + r->stw1_ns);
  uint64_t c = r->stw2_ns;
  uint64_t procs = (uint64_t)r->procs;
  char A[24], B[24], C[24], D[24], E[24], F[24], G[24], H[24];
  tc_gctrace_fmt_ms(A, a);
  tc_gctrace_fmt_ms(B, b);
  tc_gctrace_fmt_ms(C, c);
  tc_gctrace_fmt_ms(D, a * procs);
  tc_gctrace_fmt_ms(E, r->assist_ns);
  tc_gctrace_fmt_ms(F, r->mark_cpu_ns - r->idle_ns);
  tc_gctrace_fmt_ms(G, r->idle_ns);
  tc_gctrace_fmt_ms(H, c * procs);
  uint64_t t_ms = (r->sweep_term_ns - tc_stats_init_ns()) / 1000000;
  char line[512];
  int n = snprintf(line, sizeof line,
                   "gc %u @%llu.%03llus %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                   "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, %d P%s\n",
                   r->num, (unsigned long long)(t_ms / 1000), (unsigned long long)(t_ms % 1000),
                   (int)(tc_stats_gc_cpu_fraction() * 100), A, B, C, D, E, F, G, H,
                   (unsigned long long)(r->heap_live_start >> 20),
                   (unsigned long long)(r->heap_live_end >> 20),
                   (unsigned long long)(r->heap_marked >> 20), (unsigned long long)(r->goal >> 20),
                   (unsigned long long)(r->stack_bytes >> 20),
                   (unsigned long long)(r->global_bytes >> 20), r->procs,
                   r->forced ? " (forced)" : "");
  tc_write_line(line, n, sizeof line);
}
