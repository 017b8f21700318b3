/*
 * dwarf.c - DWARF line tables (dwarf.h).
 */
#include "dwarf.h"

#include <elf.h>
#include <string.h>
#include <zlib.h>

/* ---- a bounds-checked reader ------------------------------------------------ */

typedef struct rd {
  const uint8_t *p, *end;
  bool bad;
} rd_t;

static bool need(rd_t *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = true;
    r->p = r->end;
    return false;
  }
  return true;
}

static void rd_skip(rd_t *r, uint64_t n) {
  if (need(r, n)) r->p += n;
}

static uint64_t rd_fixed(rd_t *r, size_t n) {
  if (!need(r, n)) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  return v;
}

static uint64_t rd_uleb(rd_t *r) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (!need(r, 1)) return 0;
    uint8_t b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

static int64_t rd_sleb(rd_t *r) {
  uint64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    if (!need(r, 1)) return 0;
    b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40)) v |= ~UINT64_C(0) << shift;
  return (int64_t)v;
}

static const char *rd_cstr(rd_t *r) {
  if (r->bad) return NULL;
  const uint8_t *z = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (z == NULL) {
    r->bad = true;
    r->p = r->end;
    return NULL;
  }
  const char *s = (const char *)r->p;
  r->p = z + 1;
  return s;
}

/* ---- sections --------------------------------------------------------------- */

typedef struct section {
  const uint8_t *data;
  size_t size;
} section_t;

static voidpf zalloc(voidpf opaque, uInt items, uInt size) {
  return tc_scratch_alloc(opaque, (size_t)items * size);
}
static void zfree(voidpf opaque, voidpf p) {}

static section_t get_section(tc_scratch_t *a, const uint8_t *elf, size_t size, const char *name) {
  section_t none = {NULL, 0};
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
  if (size < sizeof *eh || eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      eh->e_shoff > size || (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > size - eh->e_shoff ||
      eh->e_shstrndx >= eh->e_shnum)
    return none;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
  const Elf64_Shdr *names = &sh[eh->e_shstrndx];
  if (names->sh_offset > size || names->sh_size > size - names->sh_offset) return none;
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_name >= names->sh_size || sh[i].sh_type == SHT_NOBITS) continue;
    const char *n = (const char *)elf + names->sh_offset + sh[i].sh_name;
    size_t room = names->sh_size - sh[i].sh_name;
    if (strnlen(n, room) == room || strcmp(n, name) != 0) continue;
    if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset) return none;
    section_t s = {elf + sh[i].sh_offset, sh[i].sh_size};
    if (!(sh[i].sh_flags & SHF_COMPRESSED)) return s;
    /* Elf64_Chdr, then a zlib stream of ch_size bytes. */
    if (s.size < sizeof(Elf64_Chdr)) return none;
    const Elf64_Chdr *ch = (const Elf64_Chdr *)s.data;
    if (ch->ch_type != ELFCOMPRESS_ZLIB || ch->ch_size > ((size_t)1 << 32)) return none;
    uint8_t *out = tc_scratch_alloc(a, ch->ch_size + 1);
    if (out == NULL) return none;
    z_stream zs = {0};
    zs.zalloc = zalloc;
    zs.zfree = zfree;
    zs.opaque = a;
    if (inflateInit(&zs) != Z_OK) return none;
    zs.next_in = (Bytef *)(s.data + sizeof *ch);
    zs.avail_in = (uInt)(s.size - sizeof *ch);
    zs.next_out = out;
    zs.avail_out = (uInt)ch->ch_size;
    int zr = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    if (zr != Z_STREAM_END) return none;
    section_t d = {out, ch->ch_size};
    return d;
  }
  return none;
}

/* ---- line programs ------------------------------------------------------------ */

enum {
  DW_LNS_copy = 1, DW_LNS_advance_pc, DW_LNS_advance_line, DW_LNS_set_file,
  DW_LNS_set_column, DW_LNS_negate_stmt, DW_LNS_set_basic_block, DW_LNS_const_add_pc,
  DW_LNS_fixed_advance_pc,
  DW_LNE_end_sequence = 1, DW_LNE_set_address = 2,
  DW_LNCT_path = 1, DW_LNCT_directory_index = 2,
  DW_FORM_block2 = 0x03, DW_FORM_block4 = 0x04, DW_FORM_data2 = 0x05, DW_FORM_data4 = 0x06,
  DW_FORM_data8 = 0x07, DW_FORM_string = 0x08, DW_FORM_block = 0x09, DW_FORM_block1 = 0x0a,
  DW_FORM_data1 = 0x0b, DW_FORM_flag = 0x0c, DW_FORM_sdata = 0x0d, DW_FORM_strp = 0x0e,
  DW_FORM_udata = 0x0f, DW_FORM_data16 = 0x1e, DW_FORM_line_strp = 0x1f,
};

typedef struct ctx {
  tc_scratch_t *a;
  section_t str, line_str;
  /* Output, grown by doubling (old copies stay in the arena). */
  tc_line_row_t *rows;
  size_t n, cap;
  const char **files;
  size_t nfiles, files_cap;
} ctx_t;

static bool grow(tc_scratch_t *a, void **v, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return true;
  size_t c = *cap ? *cap * 2 : 1024;
  void *nv = tc_scratch_alloc(a, c * elem);
  if (nv == NULL) return false;
  if (*v) memcpy(nv, *v, n * elem);
  *v = nv;
  *cap = c;
  return true;
}

static const char *str_at(const section_t *s, uint64_t off) {
  if (s->data == NULL || off >= s->size) return NULL;
  const char *p = (const char *)s->data + off;
  return memchr(p, 0, s->size - off) ? p : NULL;
}

/* Reads one attribute value of a DWARF 5 entry: a string for string forms,
 * a number for constant forms. */
static void read_form(ctx_t *c, rd_t *r, uint64_t form, size_t offsize, const char **s,
                      uint64_t *num) {
  *s = NULL;
  *num = 0;
  switch (form) {
    case DW_FORM_string: *s = rd_cstr(r); break;
    case DW_FORM_line_strp: *s = str_at(&c->line_str, rd_fixed(r, offsize)); break;
    case DW_FORM_strp: *s = str_at(&c->str, rd_fixed(r, offsize)); break;
    case DW_FORM_udata: *num = rd_uleb(r); break;
    case DW_FORM_sdata: *num = (uint64_t)rd_sleb(r); break;
    case DW_FORM_data1: case DW_FORM_flag: *num = rd_fixed(r, 1); break;
    case DW_FORM_data2: *num = rd_fixed(r, 2); break;
    case DW_FORM_data4: *num = rd_fixed(r, 4); break;
    case DW_FORM_data8: *num = rd_fixed(r, 8); break;
    case DW_FORM_data16: rd_skip(r, 16); break;
    case DW_FORM_block1: rd_skip(r, rd_fixed(r, 1)); break;
    case DW_FORM_block2: rd_skip(r, rd_fixed(r, 2)); break;
    case DW_FORM_block4: rd_skip(r, rd_fixed(r, 4)); break;
    case DW_FORM_block: rd_skip(r, rd_uleb(r)); break;
    default: r->bad = true; r->p = r->end; break; /* a form we cannot skip */
  }
}

static const char *join_path(tc_scratch_t *a, const char *dir, const char *name) {
  if (name == NULL) return "?";
  if (name[0] == '/' || dir == NULL || dir[0] == 0) return name;
  size_t dl = strlen(dir), nl = strlen(name);
  char *p = tc_scratch_alloc(a, dl + nl + 2);
  if (p == NULL) return name;
  memcpy(p, dir, dl);
  p[dl] = '/';
  memcpy(p + dl + 1, name, nl);
  return p;
}

/* DWARF 5 directory or file entry list: count entries of the given format. */
static bool read_entries_v5(ctx_t *c, rd_t *r, size_t offsize, const char **dirs, size_t ndirs,
                            const char ***out, size_t *nout) {
  uint64_t nformats = rd_fixed(r, 1);
  uint64_t fmt[16][2];
  if (nformats > 16) return false;
  for (uint64_t i = 0; i < nformats; i++) {
    fmt[i][0] = rd_uleb(r);
    fmt[i][1] = rd_uleb(r);
  }
  uint64_t count = rd_uleb(r);
  if (r->bad || count > (uint64_t)(r->end - r->p)) return false;
  const char **v = tc_scratch_alloc(c->a, (count + 1) * sizeof *v);
  if (v == NULL) return false;
  for (uint64_t e = 0; e < count; e++) {
    const char *path = NULL;
    uint64_t dir = 0;
    for (uint64_t i = 0; i < nformats; i++) {
      const char *s;
      uint64_t num;
      read_form(c, r, fmt[i][1], offsize, &s, &num);
      if (fmt[i][0] == DW_LNCT_path) path = s;
      else if (fmt[i][0] == DW_LNCT_directory_index) dir = num;
    }
    if (r->bad) return false;
    v[e] = dirs ? join_path(c->a, dir < ndirs ? dirs[dir] : NULL, path) : (path ? path : "");
  }
  *out = v;
  *nout = (size_t)count;
  return true;
}

static bool add_row(ctx_t *c, uint64_t addr, uint32_t file, uint32_t line, bool *seq_has_row) {
  /* A later row at the same address (within a sequence) replaces it. */
  if (*seq_has_row && c->n > 0 && c->rows[c->n - 1].addr == addr &&
      c->rows[c->n - 1].file != UINT32_MAX) {
    c->rows[c->n - 1].file = file;
    c->rows[c->n - 1].line = line;
    return true;
  }
  if (!grow(c->a, (void **)&c->rows, &c->cap, c->n, sizeof *c->rows)) return false;
  c->rows[c->n].addr = addr;
  c->rows[c->n].file = file;
  c->rows[c->n].line = line;
  c->n++;
  *seq_has_row = file != UINT32_MAX;
  return true;
}

/* One line-number program (a unit of .debug_line) at r; r ends after it. */
static bool read_unit(ctx_t *c, rd_t *r) {
  uint64_t len = rd_fixed(r, 4);
  size_t offsize = 4;
  if (len == 0xffffffff) {
    len = rd_fixed(r, 8);
    offsize = 8;
  }
  if (r->bad || len > (uint64_t)(r->end - r->p)) return false;
  rd_t u = {r->p, r->p + len, false};
  r->p += len;
  unsigned version = (unsigned)rd_fixed(&u, 2);
  if (version < 2 || version > 5) return true; /* skip units we do not know */
  if (version >= 5) {
    rd_fixed(&u, 1); /* address_size */
    rd_fixed(&u, 1); /* segment_selector_size */
  }
  uint64_t header_len = rd_fixed(&u, offsize);
  if (u.bad || header_len > (uint64_t)(u.end - u.p)) return false;
  const uint8_t *program = u.p + header_len;
  unsigned min_inst = (unsigned)rd_fixed(&u, 1);
  if (version >= 4) rd_fixed(&u, 1); /* maximum_operations_per_instruction */
  bool default_is_stmt = rd_fixed(&u, 1) != 0;
  (void)default_is_stmt;
  int line_base = (int8_t)rd_fixed(&u, 1);
  unsigned line_range = (unsigned)rd_fixed(&u, 1);
  unsigned opcode_base = (unsigned)rd_fixed(&u, 1);
  if (u.bad || line_range == 0 || opcode_base == 0) return false;
  uint8_t std_len[256] = {0};
  for (unsigned i = 1; i < opcode_base; i++) std_len[i] = (uint8_t)rd_fixed(&u, 1);

  /* File table: unit-relative indices mapped to c->files. */
  const char **unit_files = NULL;
  size_t nunit = 0;
  if (version >= 5) {
    const char **dirs = NULL;
    size_t ndirs = 0;
    if (!read_entries_v5(c, &u, offsize, NULL, 0, &dirs, &ndirs)) return false;
    if (!read_entries_v5(c, &u, offsize, dirs, ndirs, &unit_files, &nunit)) return false;
  } else {
    const char *dirs[256];
    size_t ndirs = 1;
    dirs[0] = NULL; /* the compilation directory: in .debug_info, not here */
    for (;;) {
      const char *d = rd_cstr(&u);
      if (d == NULL || d[0] == 0) break;
      if (ndirs < TC_ARRAY_LEN(dirs)) dirs[ndirs++] = d;
    }
    size_t cap = 0;
    unit_files = NULL;
    /* Index 0 is unused in DWARF 2-4 (files are numbered from 1). */
    if (!grow(c->a, (void **)&unit_files, &cap, 0, sizeof *unit_files)) return false;
    unit_files[nunit++] = "?";
    for (;;) {
      const char *name = rd_cstr(&u);
      if (name == NULL || name[0] == 0) break;
      uint64_t dir = rd_uleb(&u);
      rd_uleb(&u); /* mtime */
      rd_uleb(&u); /* length */
      if (!grow(c->a, (void **)&unit_files, &cap, nunit, sizeof *unit_files)) return false;
      unit_files[nunit++] = join_path(c->a, dir < ndirs ? dirs[dir] : NULL, name);
    }
  }
  if (u.bad) return false;
  size_t file_base = c->nfiles;
  for (size_t i = 0; i < nunit; i++) {
    if (!grow(c->a, (void **)&c->files, &c->files_cap, c->nfiles, sizeof *c->files)) return false;
    c->files[c->nfiles++] = unit_files[i];
  }

  /* The state machine (DWARF 5, 6.2.2). */
  u.p = program;
  uint64_t addr = 0, file = 1;
  int64_t line = 1;
  bool seq_has_row = false;
#define EMIT(end)                                                                 \
  do {                                                                            \
    uint32_t f_ = (end) ? UINT32_MAX                                              \
                        : (file < nunit ? (uint32_t)(file_base + file) : UINT32_MAX - 1); \
    if (!add_row(c, addr, f_, line > 0 ? (uint32_t)line : 0, &seq_has_row)) return false; \
  } while (0)
  while (u.p < u.end && !u.bad) {
    unsigned op = (unsigned)rd_fixed(&u, 1);
    if (op >= opcode_base) {
      unsigned adj = op - opcode_base;
      addr += (uint64_t)(adj / line_range) * min_inst;
      line += line_base + (int)(adj % line_range);
      EMIT(false);
      continue;
    }
    switch (op) {
      case 0: {
        uint64_t n = rd_uleb(&u);
        if (n == 0 || !need(&u, n)) break;
        const uint8_t *next = u.p + n;
        unsigned sub = (unsigned)rd_fixed(&u, 1);
        if (sub == DW_LNE_end_sequence) {
          EMIT(true);
          addr = 0;
          file = 1;
          line = 1;
          seq_has_row = false;
        } else if (sub == DW_LNE_set_address && n - 1 <= 8) {
          addr = rd_fixed(&u, n - 1);
        }
        u.p = next;
        break;
      }
      case DW_LNS_copy: EMIT(false); break;
      case DW_LNS_advance_pc: addr += rd_uleb(&u) * min_inst; break;
      case DW_LNS_advance_line: line += rd_sleb(&u); break;
      case DW_LNS_set_file: file = rd_uleb(&u); break;
      case DW_LNS_const_add_pc: addr += (uint64_t)((255 - opcode_base) / line_range) * min_inst; break;
      case DW_LNS_fixed_advance_pc: addr += rd_fixed(&u, 2); break;
      default:
        for (unsigned i = 0; i < std_len[op]; i++) rd_uleb(&u);
        break;
    }
  }
#undef EMIT
  return !u.bad;
}

static bool row_less(const tc_line_row_t *a, const tc_line_row_t *b) {
  if (a->addr != b->addr) return a->addr < b->addr;
  return a->file == UINT32_MAX && b->file != UINT32_MAX; /* terminators first */
}

static void sift(tc_line_row_t *v, size_t i, size_t n) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && row_less(&v[c], &v[c + 1])) c++;
    if (!row_less(&v[i], &v[c])) return;
    tc_line_row_t t = v[i];
    v[i] = v[c];
    v[c] = t;
    i = c;
  }
}

bool tc_dwarf_read_lines(tc_scratch_t *a, const uint8_t *elf, size_t size, tc_line_table_t *t) {
  memset(t, 0, sizeof *t);
  section_t lines = get_section(a, elf, size, ".debug_line");
  if (lines.data == NULL) return false;
  ctx_t c = {a, get_section(a, elf, size, ".debug_str"),
             get_section(a, elf, size, ".debug_line_str"), NULL, 0, 0, NULL, 0, 0};
  rd_t r = {lines.data, lines.data + lines.size, false};
  while (r.p < r.end && read_unit(&c, &r)) {}
  if (c.n == 0) return false;
  /* Heapsort by address: rows of most units are already in order, but
   * units need not be. */
  for (size_t i = c.n / 2; i-- > 0;) sift(c.rows, i, c.n);
  for (size_t i = c.n; i-- > 1;) {
    tc_line_row_t x = c.rows[0];
    c.rows[0] = c.rows[i];
    c.rows[i] = x;
    sift(c.rows, 0, i);
  }
  t->rows = c.rows;
  t->n = c.n;
  t->files = c.files;
  t->nfiles = c.nfiles;
  return true;
}

bool tc_dwarf_lookup(const tc_line_table_t *t, uint64_t addr, const char **file, uint32_t *line) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->rows[mid].addr <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return false;
  const tc_line_row_t *r = &t->rows[lo - 1];
  if (r->file >= t->nfiles || r->line == 0) return false; /* terminator or bad file */
  *file = t->files[r->file];
  *line = r->line;
  return true;
}
