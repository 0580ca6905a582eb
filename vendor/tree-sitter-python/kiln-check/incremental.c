#include <tree_sitter/api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
const TSLanguage *tree_sitter_python(void);
static char *dumpbuf; static size_t dumplen;
static void dump(TSTreeCursor *c, int depth, FILE *o) {
  for (;;) {
    TSNode n = ts_tree_cursor_current_node(c);
    const char *f = ts_tree_cursor_current_field_name(c);
    fprintf(o, "%*s%s%s%s%s %u-%u\n", depth*2, "", f?f:"", f?": ":"", ts_node_is_missing(n)?"MISSING ":"", ts_node_type(n), ts_node_start_byte(n), ts_node_end_byte(n));
    if (ts_tree_cursor_goto_first_child(c)) { dump(c, depth+1, o); ts_tree_cursor_goto_parent(c); }
    if (!ts_tree_cursor_goto_next_sibling(c)) return;
  }
}
static char *tostr(TSTree *t) {
  char *b; size_t l; FILE *o = open_memstream(&b, &l);
  TSTreeCursor c = ts_tree_cursor_new(ts_tree_root_node(t)); dump(&c, 0, o); ts_tree_cursor_delete(&c); fclose(o); return b;
}
static TSPoint pt(const char *s, uint32_t n) { TSPoint p = {0,0}; for (uint32_t i = 0; i < n; i++) { if (s[i]=='\n') { p.row++; p.column=0; } else p.column++; } return p; }
int main(int argc, char **argv) {
  srand(atoi(argv[1])); int iters = atoi(argv[2]);
  const char *snips[] = {"# c\n", "\n", "    ", "x", ":", "#", "\n# col0\n", "\n    # ind\n", "def g():\n", "  ", "\\\n", "'", "(", ")", "\t"};
  int bad = 0;
  for (int fi = 3; fi < argc; fi++) {
    FILE *f = fopen(argv[fi], "rb"); fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1 + 64*iters); fread(buf, 1, n, f); fclose(f); buf[n] = 0;
    TSParser *p = ts_parser_new(); ts_parser_set_language(p, tree_sitter_python());
    TSTree *t = ts_parser_parse_string(p, NULL, buf, n);
    for (int it = 0; it < iters; it++) {
      uint32_t at = n ? rand() % (n + 1) : 0; uint32_t del = 0; const char *ins = "";
      if (rand() % 2 && at < n) { del = 1 + rand() % 6; if (at + del > n) del = n - at; } else ins = snips[rand() % 15];
      uint32_t il = strlen(ins);
      TSInputEdit e; e.start_byte = at; e.old_end_byte = at + del; e.new_end_byte = at + il;
      e.start_point = pt(buf, at); e.old_end_point = pt(buf, at + del);
      memmove(buf + at + il, buf + at + del, n - at - del + 1); memcpy(buf + at, ins, il); n = n - del + il;
      e.new_end_point = pt(buf, at + il);
      ts_tree_edit(t, &e);
      TSTree *t2 = ts_parser_parse_string(p, t, buf, n); ts_tree_delete(t); t = t2;
      TSTree *fresh = ts_parser_parse_string(p, NULL, buf, n);
      char *a = tostr(t), *b = tostr(fresh);
      if (strcmp(a, b)) { bad++; fprintf(stderr, "MISMATCH %s iter %d\n", argv[fi], it); FILE *o = fopen("/tmp/tsw/bad.py", "wb"); fwrite(buf, 1, n, o); fclose(o); free(a); free(b); ts_tree_delete(fresh); break; }
      free(a); free(b); ts_tree_delete(fresh);
    }
    ts_tree_delete(t); ts_parser_delete(p); free(buf);
  }
  printf("incremental: %d files with a mismatch\n", bad);
  return bad != 0;
}
