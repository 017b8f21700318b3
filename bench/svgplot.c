/*
 * svgplot.c - draws bench/pacing.sh's CSV as an SVG: four panels (GC CPU
 * fraction, peak heap, cycles, max pause) against GCPERCENT on a log2 x-axis,
 * one line with markers per implementation. Plain C and libm, so the plot can
 * be drawn wherever the benchmarks build.
 *
 *   svgplot IN.csv OUT.svg [--title TEXT] [--subtitle TEXT]
 *
 * IN.csv has a header line naming its columns; svgplot reads impl, percent,
 * gc_cpu_fraction, peak_heap_mib, peak_rss_mib (optional: drawn dashed in
 * the heap panel), cycles and max_pause_us, in any order, and ignores the
 * others. One row per (impl, percent); rows of one impl are joined in
 * percent order; max_pause_us is not drawn for a row with 0 cycles. Exit
 * 0, 1 on unreadable input, 2 on bad usage.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxRows = 512, kMaxImpls = 8, kMaxCols = 64 };

enum { C_CPU, C_HEAP, C_RSS, C_CYCLES, C_PAUSE, C_NVAL };
static const char *const kValCols[C_NVAL] = {"gc_cpu_fraction", "peak_heap_mib", "peak_rss_mib",
                                             "cycles", "max_pause_us"};

typedef struct Row {
  int impl;
  double percent;
  double v[C_NVAL]; /* NAN when missing */
} Row;

static Row rows[kMaxRows];
static int nrows;
static char impls[kMaxImpls][64];
static int nimpls;

static void Die(const char *fmt, const char *arg) {
  fprintf(stderr, "svgplot: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  exit(1);
}

/* Splits line in place at commas; returns the number of fields. */
static int Split(char *line, char **f, int max) {
  int n = 0;
  char *s = line;
  for (;;) {
    if (n == max) break;
    f[n++] = s;
    char *c = strchr(s, ',');
    if (c == NULL) break;
    *c = '\0';
    s = c + 1;
  }
  for (int i = 0; i < n; i++) { /* trim */
    char *a = f[i], *e = a + strlen(a);
    while (*a && isspace((unsigned char)*a)) a++;
    while (e > a && isspace((unsigned char)e[-1])) *--e = '\0';
    f[i] = a;
  }
  return n;
}

static int ImplIndex(const char *name) {
  for (int i = 0; i < nimpls; i++)
    if (strcmp(impls[i], name) == 0) return i;
  if (nimpls == kMaxImpls) Die("more than 8 implementations (%s)", name);
  snprintf(impls[nimpls], sizeof impls[0], "%s", name);
  return nimpls++;
}

static double Num(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (s == end || errno != 0) return NAN;
  return v;
}

static void ReadCsv(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) Die("cannot open %s", path);
  char line[4096];
  char *fld[kMaxCols];
  int col_impl = -1, col_percent = -1, col_val[C_NVAL];
  for (int i = 0; i < C_NVAL; i++) col_val[i] = -1;
  if (fgets(line, sizeof line, f) == NULL) Die("%s is empty", path);
  line[strcspn(line, "\r\n")] = '\0';
  int nf = Split(line, fld, kMaxCols);
  for (int i = 0; i < nf; i++) {
    if (strcmp(fld[i], "impl") == 0) col_impl = i;
    if (strcmp(fld[i], "percent") == 0) col_percent = i;
    for (int k = 0; k < C_NVAL; k++)
      if (strcmp(fld[i], kValCols[k]) == 0) col_val[k] = i;
  }
  if (col_impl < 0 || col_percent < 0) Die("%s: header lacks impl or percent", path);
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#') continue;
    nf = Split(line, fld, kMaxCols);
    if (nf <= col_impl || nf <= col_percent) continue;
    double pct = Num(fld[col_percent]);
    if (!(pct > 0)) continue; /* log axis: positive percents only */
    if (nrows == kMaxRows) Die("more than 512 rows in %s", path);
    Row *r = &rows[nrows++];
    r->impl = ImplIndex(fld[col_impl]);
    r->percent = pct;
    for (int k = 0; k < C_NVAL; k++) r->v[k] = col_val[k] >= 0 && col_val[k] < nf ? Num(fld[col_val[k]]) : NAN;
  }
  fclose(f);
  if (nrows == 0) Die("no data rows in %s", path);
}

static int CmpRow(const void *a, const void *b) {
  const Row *x = a, *y = b;
  if (x->impl != y->impl) return x->impl - y->impl;
  return (x->percent > y->percent) - (x->percent < y->percent);
}

/* ---- SVG ---------------------------------------------------------------- */

static FILE *out;

static void Esc(const char *s) {
  for (; *s; s++) {
    if (*s == '&') fputs("&amp;", out);
    else if (*s == '<') fputs("&lt;", out);
    else if (*s == '>') fputs("&gt;", out);
    else if (*s == '"') fputs("&quot;", out);
    else fputc(*s, out);
  }
}

static void Text(double x, double y, const char *anchor, const char *style, const char *s) {
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
          style ? " " : "", style ? style : "");
  Esc(s);
  fputs("</text>\n", out);
}

/* Tick label: up to 3 significant digits, no trailing zeros. */
static void Fmt(char *buf, size_t n, double v) {
  if (fabs(v) >= 1000) snprintf(buf, n, "%.0f", v);
  else snprintf(buf, n, "%.3g", v);
}

/* A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving ~5 ticks to hi. */
static double NiceStep(double hi) {
  double raw = hi / 5, p = pow(10, floor(log10(raw))), m = raw / p;
  double s = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
  return s * p;
}

static const char *const kColors[kMaxImpls] = {"#1f77b4", "#d95f02", "#2ca02c", "#7570b3",
                                               "#e7298a", "#66a61e", "#a6761d", "#666666"};

static void Marker(int impl, double x, double y, const char *color) {
  switch (impl % 3) {
  case 0:
    fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, color);
    break;
  case 1:
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\"/>\n", x - 4,
            y - 4, color);
    break;
  default:
    fprintf(out, "<path d=\"M%.1f %.1fl5 8.5h-10z\" fill=\"%s\"/>\n", x, y - 5.5, color);
    break;
  }
}

typedef struct Panel {
  const char *title; /* y-axis meaning */
  int col;           /* value column */
  int col2;          /* second, dashed series in the same panel, or -1 */
  double scale;      /* multiply values by this (fraction -> %) */
  int logy;          /* log10 y-axis */
  const char *unit;  /* appended to tick labels */
} Panel;

static double xmin_pct, xmax_pct;

static void DrawPanel(const Panel *p, double px, double py, double pw, double ph) {
  const double ml = 62, mr = 14, mt = 30, mb = 44;
  double x0 = px + ml, x1 = px + pw - mr, y0 = py + ph - mb, y1 = py + mt;

  /* Y range. */
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < nrows; i++)
    for (int s = 0; s < 2; s++) {
      int c = s == 0 ? p->col : p->col2;
      if (c < 0) continue;
      double v = rows[i].v[c] * p->scale;
      if (isnan(v) || (p->logy && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (!isfinite(lo)) lo = 0, hi = 1;
  double ylo, yhi, step = 0;
  if (p->logy) {
    ylo = pow(10, floor(log10(lo)));
    yhi = pow(10, ceil(log10(hi)));
    if (yhi <= ylo) yhi = ylo * 10;
  } else {
    if (hi <= 0) hi = 1;
    step = NiceStep(hi * 1.05);
    ylo = 0;
    yhi = ceil(hi * 1.05 / step) * step;
  }
#define YPOS(v)                                                                  \
  (p->logy ? y0 - (log10(v) - log10(ylo)) / (log10(yhi) - log10(ylo)) * (y0 - y1) \
           : y0 - ((v)-ylo) / (yhi - ylo) * (y0 - y1))
  double lx0 = log2(xmin_pct), lx1 = log2(xmax_pct);
  double pad = (lx1 - lx0) * 0.06 + (lx1 == lx0 ? 1 : 0);
  lx0 -= pad, lx1 += pad;
#define XPOS(pct) (x0 + (log2(pct) - lx0) / (lx1 - lx0) * (x1 - x0))

  /* Frame, grid, ticks. */
  fprintf(out, "<g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
               "stroke=\"#999\"/>\n", x0, y1, x1 - x0, y0 - y1);
  char buf[64];
  if (p->logy) {
    for (double d = ylo; d <= yhi * 1.0001; d *= 10)
      for (int m = 1; m <= 9; m++) {
        double v = d * m;
        if (v > yhi * 1.0001) break;
        double y = YPOS(v);
        int major = m == 1 || m == 2 || m == 5;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                x0, y, x1, y, major ? "#ddd" : "#f1f1f1");
        if (major) {
          Fmt(buf, sizeof buf - 8, v);
          strcat(buf, p->unit);
          Text(x0 - 6, y + 4, "end", "class=\"tick\"", buf);
        }
      }
  } else {
    for (double v = ylo; v <= yhi + step * 1e-6; v += step) {
      double y = YPOS(v);
      fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
              x0, y, x1, y);
      Fmt(buf, sizeof buf - 8, v);
      strcat(buf, p->unit);
      Text(x0 - 6, y + 4, "end", "class=\"tick\"", buf);
    }
  }
  /* X ticks: every distinct percent in the data. */
  double seen[kMaxRows];
  int nseen = 0;
  for (int i = 0; i < nrows; i++) {
    int dup = 0;
    for (int j = 0; j < nseen; j++) dup |= seen[j] == rows[i].percent;
    if (dup) continue;
    seen[nseen++] = rows[i].percent;
    double x = XPOS(rows[i].percent);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x,
            y1, x, y0);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", x,
            y0, x, y0 + 4);
    Fmt(buf, sizeof buf, rows[i].percent);
    Text(x, y0 + 17, "middle", "class=\"tick\"", buf);
  }
  Text((x0 + x1) / 2, y0 + 36, "middle", "class=\"axis\"", "GCPERCENT (log2 scale)");
  Text(x0, y1 - 10, "start", "class=\"ptitle\"", p->title);

  /* Series: one polyline per impl (and per column), then the markers. */
  for (int s = 0; s < 2; s++) {
    int c = s == 0 ? p->col : p->col2;
    if (c < 0) continue;
    for (int im = 0; im < nimpls; im++) {
      const char *color = kColors[im % kMaxImpls];
      fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"", color,
              s == 0 ? "2.2" : "1.4", s == 0 ? "" : " stroke-dasharray=\"5 4\"");
      for (int i = 0; i < nrows; i++) {
        double v = rows[i].v[c] * p->scale;
        if (rows[i].impl != im || isnan(v) || (p->logy && v <= 0)) continue;
        fprintf(out, "%.1f,%.1f ", XPOS(rows[i].percent), YPOS(v));
      }
      fputs("\"/>\n", out);
      for (int i = 0; i < nrows; i++) {
        double v = rows[i].v[c] * p->scale;
        if (rows[i].impl != im || isnan(v) || (p->logy && v <= 0)) continue;
        if (s == 0) {
          Marker(im, XPOS(rows[i].percent), YPOS(v), color);
        } else {
          fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#fff\" stroke=\"%s\" "
                       "stroke-width=\"1.4\"/>\n", XPOS(rows[i].percent), YPOS(v), color);
        }
      }
    }
  }
  fputs("</g>\n", out);
#undef XPOS
#undef YPOS
}

int main(int argc, char **argv) {
  const char *in = NULL, *outpath = NULL, *title = "GC pacing: the GOGC trade-off",
             *subtitle = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--title") == 0 && i + 1 < argc) title = argv[++i];
    else if (strcmp(argv[i], "--subtitle") == 0 && i + 1 < argc) subtitle = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1] != '\0') in = outpath = NULL, argc = 0;
    else if (in == NULL) in = argv[i];
    else if (outpath == NULL) outpath = argv[i];
    else in = outpath = NULL, argc = 0;
  }
  if (in == NULL || outpath == NULL) {
    fprintf(stderr, "usage: svgplot IN.csv OUT.svg [--title TEXT] [--subtitle TEXT]\n");
    return 2;
  }
  ReadCsv(in);
  qsort(rows, nrows, sizeof rows[0], CmpRow);
  xmin_pct = xmax_pct = rows[0].percent;
  for (int i = 0; i < nrows; i++) {
    if (rows[i].v[C_CYCLES] == 0) rows[i].v[C_PAUSE] = NAN; /* no cycle, no pause */
    if (rows[i].percent < xmin_pct) xmin_pct = rows[i].percent;
    if (rows[i].percent > xmax_pct) xmax_pct = rows[i].percent;
  }
  int have_rss = 0;
  for (int i = 0; i < nrows; i++) have_rss |= !isnan(rows[i].v[C_RSS]);

  out = fopen(outpath, "w");
  if (out == NULL) Die("cannot write %s", outpath);
  const double W = 960, pw = 480, ph = 330, top = subtitle ? 96 : 80;
  const double H = top + 2 * ph + 8;
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
          "<style>text{fill:#222}.tick{font-size:11px;fill:#444}.axis{font-size:12px;fill:#444}"
          ".ptitle{font-size:14px;font-weight:bold}.title{font-size:18px;font-weight:bold}"
          ".sub{font-size:12px;fill:#555}.legend{font-size:13px}</style>\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
          W, H, W, H);
  Text(W / 2, 26, "middle", "class=\"title\"", title);
  if (subtitle) Text(W / 2, 46, "middle", "class=\"sub\"", subtitle);

  /* Legend: one entry per impl, plus the dashed RSS series when present. */
  double lx = 40, ly = subtitle ? 70 : 54;
  for (int im = 0; im < nimpls; im++) {
    const char *color = kColors[im % kMaxImpls];
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"2.2\"/>\n", lx, ly, lx + 28, ly, color);
    Marker(im, lx + 14, ly, color);
    Text(lx + 36, ly + 4.5, "start", "class=\"legend\"", impls[im]);
    lx += 44 + 8.5 * (double)strlen(impls[im]) + 24;
  }
  if (have_rss) {
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                 "stroke-width=\"1.4\" stroke-dasharray=\"5 4\"/>\n", lx, ly, lx + 28, ly);
    fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#fff\" stroke=\"#555\" "
                 "stroke-width=\"1.4\"/>\n", lx + 14, ly);
    Text(lx + 36, ly + 4.5, "start", "class=\"legend\"", "peak RSS (heap panel, dashed)");
  }

  const Panel panels[4] = {
      {"GC CPU fraction (MemStats)", C_CPU, -1, 100, 0, "%"},
      {"Peak heap in use, MiB (sampled HeapInuse)", C_HEAP, have_rss ? C_RSS : -1, 1, 0, ""},
      {"GC cycles (log scale)", C_CYCLES, -1, 1, 1, ""},
      {"Max pause per cycle, \xc2\xb5s (log scale)", C_PAUSE, -1, 1, 1, ""},
  };
  for (int i = 0; i < 4; i++)
    DrawPanel(&panels[i], (i % 2) * pw, top + (i / 2) * ph, pw, ph);
  fputs("</svg>\n", out);
  if (fclose(out) != 0) Die("cannot write %s", outpath);
  return 0;
}
