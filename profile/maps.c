/*
 * maps.c - executable mappings, build IDs and symbol tables (maps.h).
 */
#include "maps.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dwarf.h"

#define MAX_LOADS 16

typedef struct elf_sym {
  uint64_t value, size;
  const char *name;
  uint8_t bind;
} elf_sym_t;

typedef struct tc_elf {
  const char *path;
  dev_t dev;
  ino_t ino;
  const uint8_t *data; /* the file, mapped */
  size_t size;
  const uint8_t *dbg;  /* a separate debug file supplying .symtab, mapped */
  size_t dbg_size;
  char build_id[129];
  struct {
    uint64_t vaddr, offset, filesz;
    uint32_t flags;
  } loads[MAX_LOADS];
  int nloads;
  elf_sym_t *syms;
  size_t nsyms;
  bool lines_tried;
  tc_line_table_t lines;
} tc_elf_t;

/* ---- /proc/self/maps ------------------------------------------------------ */

static int read_file(const char *path, tc_bytes_t *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (;;) {
    if (!tc_bytes_reserve(out, 16384)) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    ssize_t r = read(fd, out->data + out->len, out->cap - out->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    if (r == 0) break;
    out->len += (size_t)r;
  }
  close(fd);
  return 0;
}

static const char *skip_field(const char *p, const char *end) {
  while (p < end && *p != ' ' && *p != '\t') p++;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

static uint64_t parse_hex(const char *p, const char *end, const char **next) {
  uint64_t v = 0;
  for (; p < end; p++) {
    int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (d < 0) break;
    v = v << 4 | (uint64_t)d;
  }
  *next = p;
  return v;
}

int tc_maps_read(tc_maps_t *maps, tc_scratch_t *a) {
  memset(maps, 0, sizeof *maps);
  maps->a = a;
  tc_bytes_t text = TC_BYTES_INIT;
  if (read_file("/proc/self/maps", &text) != 0) {
    int e = errno;
    tc_bytes_free(&text);
    errno = e;
    return -1;
  }
  char exe[4096];
  ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[exe_len > 0 ? exe_len : 0] = 0;
  static const char deleted[] = " (deleted)";
  if (exe_len >= (ssize_t)sizeof deleted - 1 &&
      strcmp(exe + exe_len - (sizeof deleted - 1), deleted) == 0)
    exe[exe_len - (sizeof deleted - 1)] = 0;

  size_t lines = 0;
  for (size_t i = 0; i < text.len; i++) lines += text.data[i] == '\n';
  maps->m = tc_scratch_alloc(a, (lines + 1) * sizeof *maps->m);
  if (maps->m == NULL) {
    tc_bytes_free(&text);
    errno = ENOMEM;
    return -1;
  }
  const char *p = (const char *)text.data, *end = p + text.len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) eol = end;
    /* start-end perms offset dev inode path */
    const char *q;
    uint64_t start = parse_hex(p, eol, &q);
    uint64_t limit = (q < eol && *q == '-') ? parse_hex(q + 1, eol, &q) : 0;
    const char *perms = q < eol ? q + 1 : eol;
    q = skip_field(perms, eol); /* now at offset */
    uint64_t offset = parse_hex(q, eol, &q);
    q = skip_field(q, eol);     /* at dev */
    q = skip_field(q, eol);     /* at inode */
    q = skip_field(q, eol);     /* at the path, if any */
    const char *path = q;
    size_t plen = (size_t)(eol - path);
    if (plen >= sizeof deleted - 1 &&
        memcmp(path + plen - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
      plen -= sizeof deleted - 1;
    bool exec = eol - perms >= 4 && perms[2] == 'x';
    if (exec && limit > start && plen > 0 && path[0] == '/') {
      tc_mapping_t *m = &maps->m[maps->n++];
      m->start = start;
      m->limit = limit;
      m->offset = offset;
      m->path = tc_scratch_strndup(a, path, plen);
      m->build_id = "";
      if (m->path == NULL) {
        tc_bytes_free(&text);
        errno = ENOMEM;
        return -1;
      }
      /* The main program first (its first executable mapping). */
      if (exe[0] && strcmp(m->path, exe) == 0 && maps->n > 1 &&
          strcmp(maps->m[0].path, exe) != 0) {
        tc_mapping_t main = *m;
        memmove(&maps->m[1], &maps->m[0], (maps->n - 1) * sizeof *m);
        maps->m[0] = main;
      }
    }
    p = eol + 1;
  }
  tc_bytes_free(&text);
  for (size_t i = 0; i < maps->n; i++) maps->m[i].id = i + 1;
  return 0;
}

tc_mapping_t *tc_maps_find(tc_maps_t *maps, uintptr_t addr) {
  for (size_t i = 0; i < maps->n; i++)
    if (addr >= maps->m[i].start && addr < maps->m[i].limit) return &maps->m[i];
  return NULL;
}

const char *tc_maps_basename(const tc_mapping_t *m) {
  const char *s = strrchr(m->path, '/');
  return s ? s + 1 : m->path;
}

/* ---- ELF files ---------------------------------------------------------------- */

static bool in_file(size_t size, uint64_t off, uint64_t len) {
  return off <= size && len <= size - off;
}

static const Elf64_Ehdr *elf_header(const uint8_t *d, size_t size) {
  if (size < sizeof(Elf64_Ehdr)) return NULL;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)d;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB)
    return NULL;
  return eh;
}

static const Elf64_Shdr *section_headers(const uint8_t *d, size_t size, unsigned *n) {
  const Elf64_Ehdr *eh = elf_header(d, size);
  *n = 0;
  if (eh == NULL || eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
    return NULL;
  *n = eh->e_shnum;
  return (const Elf64_Shdr *)(d + eh->e_shoff);
}

/* Hex of the first NT_GNU_BUILD_ID note in [p, p + len). */
static bool parse_notes(const uint8_t *p, uint64_t len, char *hex, size_t hexcap) {
  while (len >= sizeof(Elf64_Nhdr)) {
    const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
    uint64_t name = tc_align_up(nh->n_namesz, 4), desc = tc_align_up(nh->n_descsz, 4);
    uint64_t total = sizeof *nh + name + desc;
    if (total > len) return false;
    if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
        memcmp(p + sizeof *nh, "GNU", 4) == 0 && nh->n_descsz * 2 + 1 <= hexcap) {
      const uint8_t *id = p + sizeof *nh + name;
      for (uint32_t i = 0; i < nh->n_descsz; i++) {
        hex[2 * i] = "0123456789abcdef"[id[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[id[i] & 15];
      }
      hex[2 * nh->n_descsz] = 0;
      return true;
    }
    p += total;
    len -= total;
  }
  return false;
}

static void read_build_id(tc_elf_t *e) {
  const Elf64_Ehdr *eh = elf_header(e->data, e->size);
  if (eh && eh->e_phentsize == sizeof(Elf64_Phdr) &&
      in_file(e->size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->data + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
      if (ph[i].p_type == PT_NOTE && in_file(e->size, ph[i].p_offset, ph[i].p_filesz) &&
          parse_notes(e->data + ph[i].p_offset, ph[i].p_filesz, e->build_id, sizeof e->build_id))
        return;
  }
  unsigned n;
  const Elf64_Shdr *sh = section_headers(e->data, e->size, &n);
  for (unsigned i = 0; sh && i < n; i++)
    if (sh[i].sh_type == SHT_NOTE && in_file(e->size, sh[i].sh_offset, sh[i].sh_size) &&
        parse_notes(e->data + sh[i].sh_offset, sh[i].sh_size, e->build_id, sizeof e->build_id))
      return;
}

static void read_loads(tc_elf_t *e) {
  const Elf64_Ehdr *eh = elf_header(e->data, e->size);
  if (eh == NULL || eh->e_phentsize != sizeof(Elf64_Phdr) ||
      !in_file(e->size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
    return;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->data + eh->e_phoff);
  for (unsigned i = 0; i < eh->e_phnum && e->nloads < MAX_LOADS; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    e->loads[e->nloads].vaddr = ph[i].p_vaddr;
    e->loads[e->nloads].offset = ph[i].p_offset;
    e->loads[e->nloads].filesz = ph[i].p_filesz;
    e->loads[e->nloads].flags = ph[i].p_flags;
    e->nloads++;
  }
}

/* The symbol table of type `type` in d, or NULL. */
static const Elf64_Shdr *find_symtab(const uint8_t *d, size_t size, uint32_t type,
                                     const Elf64_Shdr **strtab) {
  unsigned n;
  const Elf64_Shdr *sh = section_headers(d, size, &n);
  for (unsigned i = 0; sh && i < n; i++) {
    if (sh[i].sh_type != type || sh[i].sh_entsize != sizeof(Elf64_Sym) ||
        sh[i].sh_link >= n || !in_file(size, sh[i].sh_offset, sh[i].sh_size))
      continue;
    const Elf64_Shdr *st = &sh[sh[i].sh_link];
    if (st->sh_type != SHT_STRTAB || !in_file(size, st->sh_offset, st->sh_size)) continue;
    *strtab = st;
    return &sh[i];
  }
  return NULL;
}

static int bind_rank(uint8_t bind) {
  return bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0;
}

static bool sym_less(const elf_sym_t *a, const elf_sym_t *b) {
  if (a->value != b->value) return a->value < b->value;
  return bind_rank(a->bind) > bind_rank(b->bind); /* preferred name first */
}

static void sift_down(elf_sym_t *s, size_t i, size_t n) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && sym_less(&s[c], &s[c + 1])) c++;
    if (!sym_less(&s[i], &s[c])) return;
    elf_sym_t t = s[i];
    s[i] = s[c];
    s[c] = t;
    i = c;
  }
}

/* Heapsort: in place, no allocation, O(n log n) worst case. */
static void sort_syms(elf_sym_t *s, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(s, i, n);
  for (size_t i = n; i-- > 1;) {
    elf_sym_t t = s[0];
    s[0] = s[i];
    s[i] = t;
    sift_down(s, 0, i);
  }
}

static void read_symbols(tc_maps_t *maps, tc_elf_t *e, const uint8_t *d, size_t size,
                         const Elf64_Shdr *tab, const Elf64_Shdr *strtab) {
  size_t count = tab->sh_size / sizeof(Elf64_Sym);
  const Elf64_Sym *sym = (const Elf64_Sym *)(d + tab->sh_offset);
  const char *str = (const char *)(d + strtab->sh_offset);
  size_t strsize = strtab->sh_size;
  size_t nfunc = 0;
  for (size_t i = 0; i < count; i++) {
    unsigned type = ELF64_ST_TYPE(sym[i].st_info);
    if ((type == STT_FUNC || type == STT_GNU_IFUNC) && sym[i].st_shndx != SHN_UNDEF &&
        sym[i].st_value != 0 && sym[i].st_name < strsize)
      nfunc++;
  }
  e->syms = tc_scratch_alloc(maps->a, nfunc * sizeof *e->syms + 1);
  if (e->syms == NULL) return;
  size_t k = 0;
  for (size_t i = 0; i < count && k < nfunc; i++) {
    unsigned type = ELF64_ST_TYPE(sym[i].st_info);
    if (!((type == STT_FUNC || type == STT_GNU_IFUNC) && sym[i].st_shndx != SHN_UNDEF &&
          sym[i].st_value != 0 && sym[i].st_name < strsize))
      continue;
    /* Names must end inside the string table. */
    if (memchr(str + sym[i].st_name, 0, strsize - sym[i].st_name) == NULL) continue;
    e->syms[k].value = sym[i].st_value;
    e->syms[k].size = sym[i].st_size;
    e->syms[k].name = str + sym[i].st_name;
    const char *at = strchr(e->syms[k].name, '@');
    if (at != NULL && at != e->syms[k].name) {
      char *plain = tc_scratch_strndup(maps->a, e->syms[k].name, (size_t)(at - e->syms[k].name));
      if (plain) e->syms[k].name = plain;
    }
    e->syms[k].bind = ELF64_ST_BIND(sym[i].st_info);
    k++;
  }
  sort_syms(e->syms, k);
  /* Aliases: keep the first (preferred) of each address. */
  size_t out = 0;
  for (size_t i = 0; i < k; i++)
    if (out == 0 || e->syms[out - 1].value != e->syms[i].value) e->syms[out++] = e->syms[i];
  e->nsyms = out;
}

static const uint8_t *map_file(int fd, size_t *size, dev_t *dev, ino_t *ino) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return NULL;
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return NULL;
  *size = (size_t)st.st_size;
  if (dev) *dev = st.st_dev;
  if (ino) *ino = st.st_ino;
  return p;
}

/* The separate debug file of e (Debian's -dbgsym packages), by build ID. */
static void open_debug_file(tc_elf_t *e) {
  if (e->dbg != NULL || strlen(e->build_id) < 3) return;
  char path[512];
  snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", e->build_id,
           e->build_id + 2);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  e->dbg = map_file(fd, &e->dbg_size, NULL, NULL);
  close(fd);
  if (e->dbg != NULL && elf_header(e->dbg, e->dbg_size) == NULL) {
    munmap((void *)e->dbg, e->dbg_size);
    e->dbg = NULL;
  }
}

static void load_symbols(tc_maps_t *maps, tc_elf_t *e) {
  const Elf64_Shdr *strtab;
  const Elf64_Shdr *tab = find_symtab(e->data, e->size, SHT_SYMTAB, &strtab);
  if (tab) {
    read_symbols(maps, e, e->data, e->size, tab, strtab);
    return;
  }
  /* Stripped: a debug file found by build ID has the full .symtab. */
  open_debug_file(e);
  if (e->dbg && (tab = find_symtab(e->dbg, e->dbg_size, SHT_SYMTAB, &strtab)) != NULL) {
    read_symbols(maps, e, e->dbg, e->dbg_size, tab, strtab);
    return;
  }
  tab = find_symtab(e->data, e->size, SHT_DYNSYM, &strtab);
  if (tab) read_symbols(maps, e, e->data, e->size, tab, strtab);
}

static tc_elf_t *open_elf(tc_maps_t *maps, const tc_mapping_t *m) {
  char mf[64];
  snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", (unsigned long)m->start,
           (unsigned long)m->limit);
  int fd = open(mf, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fd = open(m->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t size;
  dev_t dev;
  ino_t ino;
  const uint8_t *data = map_file(fd, &size, &dev, &ino);
  close(fd);
  if (data == NULL) return NULL;
  /* Several mappings of one file share its tables. */
  for (size_t i = 0; i < maps->nelfs; i++) {
    if (maps->elfs[i]->dev == dev && maps->elfs[i]->ino == ino) {
      munmap((void *)data, size);
      return maps->elfs[i];
    }
  }
  if (elf_header(data, size) == NULL) {
    munmap((void *)data, size);
    return NULL;
  }
  tc_elf_t *e = tc_scratch_alloc(maps->a, sizeof *e);
  if (maps->nelfs == maps->elfs_cap) {
    size_t cap = maps->elfs_cap ? maps->elfs_cap * 2 : 16;
    tc_elf_t **v = tc_scratch_alloc(maps->a, cap * sizeof *v);
    if (v && maps->nelfs) memcpy(v, maps->elfs, maps->nelfs * sizeof *v);
    if (v) {
      maps->elfs = v;
      maps->elfs_cap = cap;
    }
  }
  if (e == NULL || maps->nelfs == maps->elfs_cap) {
    munmap((void *)data, size);
    return NULL;
  }
  e->path = m->path;
  e->data = data;
  e->size = size;
  e->dev = dev;
  e->ino = ino;
  maps->elfs[maps->nelfs++] = e;
  read_loads(e);
  read_build_id(e);
  load_symbols(maps, e);
  return e;
}

void tc_maps_load_elf(tc_maps_t *maps, tc_mapping_t *m) {
  if (m->elf_tried) return;
  m->elf_tried = true;
  m->elf = open_elf(maps, m);
  if (m->elf == NULL) return;
  m->build_id = m->elf->build_id;
  for (int i = 0; i < m->elf->nloads; i++) {
    const tc_elf_t *e = m->elf;
    uint64_t lo = tc_align_down(e->loads[i].offset, 4096);
    if (!(e->loads[i].flags & PF_X) || m->offset < lo ||
        m->offset >= e->loads[i].offset + e->loads[i].filesz)
      continue;
    m->bias = m->start - m->offset + e->loads[i].offset - e->loads[i].vaddr;
    m->have_bias = true;
    return;
  }
}

bool tc_maps_symbolize(tc_maps_t *maps, tc_mapping_t *m, uintptr_t addr, const char **name,
                       uintptr_t *entry) {
  tc_maps_load_elf(maps, m);
  if (m->elf == NULL || !m->have_bias || m->elf->nsyms == 0) return false;
  const tc_elf_t *e = m->elf;
  uint64_t v = addr - m->bias;
  /* The last symbol starting at or below v. */
  size_t lo = 0, hi = e->nsyms;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e->syms[mid].value <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return false;
  const elf_sym_t *s = &e->syms[lo - 1];
  if (s->size != 0 ? v - s->value >= s->size : lo < e->nsyms && v >= e->syms[lo].value)
    return false;
  *name = s->name;
  *entry = (uintptr_t)(s->value + m->bias);
  return true;
}

bool tc_maps_line(tc_maps_t *maps, tc_mapping_t *m, uintptr_t addr, const char **file,
                  uint32_t *line) {
  tc_maps_load_elf(maps, m);
  tc_elf_t *e = m->elf;
  if (e == NULL || !m->have_bias) return false;
  if (!e->lines_tried) {
    e->lines_tried = true;
    if (!tc_dwarf_read_lines(maps->a, e->data, e->size, &e->lines)) {
      open_debug_file(e);
      if (e->dbg != NULL) tc_dwarf_read_lines(maps->a, e->dbg, e->dbg_size, &e->lines);
    }
  }
  return e->lines.n != 0 && tc_dwarf_lookup(&e->lines, addr - m->bias, file, line);
}

void tc_maps_close(tc_maps_t *maps) {
  for (size_t i = 0; i < maps->nelfs; i++) {
    tc_elf_t *e = maps->elfs[i];
    munmap((void *)e->data, e->size);
    if (e->dbg) munmap((void *)e->dbg, e->dbg_size);
  }
  maps->nelfs = 0;
}
