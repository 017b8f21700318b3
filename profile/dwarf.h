/*
 * dwarf.h - source lines from an ELF file's DWARF line tables
 * (.debug_line, versions 2 to 5), so profiles carry file:line like Go's and
 * `go tool pprof -lines` works without the binary.
 *
 * Owns only the decoding. maps.c calls it once per ELF file that a profile
 * needs (lazily) and keeps the table in the writer's scratch arena.
 *
 * Algorithm: run every line-number program of .debug_line (DWARF 5, section
 * 6.2), collecting one row per address (address, file, line; a later row at
 * the same address replaces the earlier one) and a terminator row at each
 * end_sequence; sort all rows by address (terminators first on ties) and
 * answer a lookup with the last row at or below the address, unless it is a
 * terminator. File names are joined to their directory unless absolute.
 * DWARF 5 directory and file entries may be inline strings or offsets into
 * .debug_line_str / .debug_str. Sections compressed with SHF_COMPRESSED
 * (zlib) are inflated into the arena. Malformed input ends the table early;
 * it never reads outside the sections.
 */
#ifndef TC_DWARF_H
#define TC_DWARF_H

#include "base.h"
#include "scratch.h"

typedef struct tc_line_row {
  uint64_t addr;
  uint32_t file; /* index into files; UINT32_MAX = end of a sequence */
  uint32_t line;
} tc_line_row_t;

typedef struct tc_line_table {
  tc_line_row_t *rows;
  size_t n;
  const char **files;
  size_t nfiles;
} tc_line_table_t;

/* Reads the line tables of the ELF image elf[0..size). Returns false (and
 * an empty table) when it has none. */
bool tc_dwarf_read_lines(tc_scratch_t *a, const uint8_t *elf, size_t size, tc_line_table_t *t);

/* The source line of ELF virtual address addr. */
bool tc_dwarf_lookup(const tc_line_table_t *t, uint64_t addr, const char **file, uint32_t *line);

#endif
