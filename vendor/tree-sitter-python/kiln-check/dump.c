#include <tree_sitter/api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
const TSLanguage *tree_sitter_python(void);
static void dump(TSTreeCursor *c, int depth, FILE *o) {
  for (;;) {
    TSNode n = ts_tree_cursor_current_node(c);
    const char *f = ts_tree_cursor_current_field_name(c);
    TSPoint s = ts_node_start_point(n), e = ts_node_end_point(n);
    fprintf(o, "%*s%s%s%s%s%s [%u:%u-%u:%u] %u-%u\n", depth*2, "", f?f:"", f?": ":"",
      ts_node_is_named(n)?"":"'", ts_node_is_missing(n)?"MISSING ":"", ts_node_type(n),
      s.row, s.column, e.row, e.column, ts_node_start_byte(n), ts_node_end_byte(n));
    if (ts_tree_cursor_goto_first_child(c)) { dump(c, depth+1, o); ts_tree_cursor_goto_parent(c); }
    if (!ts_tree_cursor_goto_next_sibling(c)) return;
  }
}
int main(int argc, char **argv) {
  int d = 0, s = 0;
  TSParser *p = ts_parser_new();
  ts_parser_set_language(p, tree_sitter_python());
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-d")) { d = 1; continue; }
    if (!strcmp(argv[i], "-s")) { s = 1; continue; }
    FILE *f = fopen(argv[i], "rb"); if (!f) { perror(argv[i]); return 1; }
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1); fread(buf, 1, n, f); fclose(f);
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    TSTree *t = ts_parser_parse_string(p, NULL, buf, n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "%s: %ld bytes %.3f s\n", argv[i], n, (b.tv_sec-a.tv_sec)+(b.tv_nsec-a.tv_nsec)/1e9);
    if (d) { TSTreeCursor c = ts_tree_cursor_new(ts_tree_root_node(t)); dump(&c, 0, stdout); ts_tree_cursor_delete(&c); }
    if (s) { char *str = ts_node_string(ts_tree_root_node(t)); puts(str); free(str); }
    ts_tree_delete(t); free(buf);
  }
  return 0;
}
