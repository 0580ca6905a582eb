#include "tree_sitter/array.h"
#include "tree_sitter/parser.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum TokenType {
    NEWLINE,
    INDENT,
    DEDENT,
    STRING_START,
    STRING_CONTENT,
    ESCAPE_INTERPOLATION,
    STRING_END,
    COMMENT,
    CLOSE_PAREN,
    CLOSE_BRACKET,
    CLOSE_BRACE,
    EXCEPT,
};

typedef enum {
    SingleQuote = 1 << 0,
    DoubleQuote = 1 << 1,
    BackQuote = 1 << 2,
    Raw = 1 << 3,
    Format = 1 << 4,
    Triple = 1 << 5,
    Bytes = 1 << 6,
} Flags;

typedef struct {
    char flags;
} Delimiter;

static inline Delimiter new_delimiter() { return (Delimiter){0}; }

static inline bool is_format(Delimiter *delimiter) { return delimiter->flags & Format; }

static inline bool is_raw(Delimiter *delimiter) { return delimiter->flags & Raw; }

static inline bool is_triple(Delimiter *delimiter) { return delimiter->flags & Triple; }

static inline bool is_bytes(Delimiter *delimiter) { return delimiter->flags & Bytes; }

static inline int32_t end_character(Delimiter *delimiter) {
    if (delimiter->flags & SingleQuote) {
        return '\'';
    }
    if (delimiter->flags & DoubleQuote) {
        return '"';
    }
    if (delimiter->flags & BackQuote) {
        return '`';
    }
    return 0;
}

static inline void set_format(Delimiter *delimiter) { delimiter->flags |= Format; }

static inline void set_raw(Delimiter *delimiter) { delimiter->flags |= Raw; }

static inline void set_triple(Delimiter *delimiter) { delimiter->flags |= Triple; }

static inline void set_bytes(Delimiter *delimiter) { delimiter->flags |= Bytes; }

static inline void set_end_character(Delimiter *delimiter, int32_t character) {
    switch (character) {
        case '\'':
            delimiter->flags |= SingleQuote;
            break;
        case '"':
            delimiter->flags |= DoubleQuote;
            break;
        case '`':
            delimiter->flags |= BackQuote;
            break;
        default:
            assert(false);
    }
}

typedef struct {
    Array(uint16_t) indents;
    Array(Delimiter) delimiters;
    bool inside_interpolated_string;
    // kiln patch: a summary of the comment run ahead (see the scan); 0 lines = none
    uint32_t run_remaining;
    uint16_t run_indent;
    bool run_quote;
} Scanner;

static inline void advance(TSLexer *lexer) { lexer->advance(lexer, false); }

static inline void skip(TSLexer *lexer) { lexer->advance(lexer, true); }

bool tree_sitter_python_external_scanner_scan(void *payload, TSLexer *lexer, const bool *valid_symbols) {
    Scanner *scanner = (Scanner *)payload;

    bool error_recovery_mode = valid_symbols[STRING_CONTENT] && valid_symbols[INDENT];
    bool within_brackets = valid_symbols[CLOSE_BRACE] || valid_symbols[CLOSE_PAREN] || valid_symbols[CLOSE_BRACKET];

    bool advanced_once = false;
    if (valid_symbols[ESCAPE_INTERPOLATION] && scanner->delimiters.size > 0 &&
        (lexer->lookahead == '{' || lexer->lookahead == '}') && !error_recovery_mode) {
        Delimiter *delimiter = array_back(&scanner->delimiters);
        if (is_format(delimiter)) {
            lexer->mark_end(lexer);
            bool is_left_brace = lexer->lookahead == '{';
            advance(lexer);
            advanced_once = true;
            if ((lexer->lookahead == '{' && is_left_brace) || (lexer->lookahead == '}' && !is_left_brace)) {
                advance(lexer);
                lexer->mark_end(lexer);
                lexer->result_symbol = ESCAPE_INTERPOLATION;
                return true;
            }
            return false;
        }
    }

    if (valid_symbols[STRING_CONTENT] && scanner->delimiters.size > 0 && !error_recovery_mode) {
        Delimiter *delimiter = array_back(&scanner->delimiters);
        int32_t end_char = end_character(delimiter);
        bool has_content = advanced_once;
        while (lexer->lookahead) {
            if ((advanced_once || lexer->lookahead == '{' || lexer->lookahead == '}') && is_format(delimiter)) {
                lexer->mark_end(lexer);
                lexer->result_symbol = STRING_CONTENT;
                return has_content;
            }
            if (lexer->lookahead == '\\') {
                if (is_raw(delimiter)) {
                    // Step over the backslash.
                    advance(lexer);
                    // Step over any escaped quotes.
                    if (lexer->lookahead == end_character(delimiter) || lexer->lookahead == '\\') {
                        advance(lexer);
                    }
                    // Step over newlines
                    if (lexer->lookahead == '\r') {
                        advance(lexer);
                        if (lexer->lookahead == '\n') {
                            advance(lexer);
                        }
                    } else if (lexer->lookahead == '\n') {
                        advance(lexer);
                    }
                    continue;
                }
                if (is_bytes(delimiter)) {
                    lexer->mark_end(lexer);
                    advance(lexer);
                    if (lexer->lookahead == 'N' || lexer->lookahead == 'u' || lexer->lookahead == 'U') {
                        // In bytes string, \N{...}, \uXXXX and \UXXXXXXXX are
                        // not escape sequences
                        // https://docs.python.org/3/reference/lexical_analysis.html#string-and-bytes-literals
                        advance(lexer);
                    } else {
                        lexer->result_symbol = STRING_CONTENT;
                        return has_content;
                    }
                } else {
                    lexer->mark_end(lexer);
                    lexer->result_symbol = STRING_CONTENT;
                    return has_content;
                }
            } else if (lexer->lookahead == end_char) {
                if (is_triple(delimiter)) {
                    lexer->mark_end(lexer);
                    advance(lexer);
                    if (lexer->lookahead == end_char) {
                        advance(lexer);
                        if (lexer->lookahead == end_char) {
                            if (has_content) {
                                lexer->result_symbol = STRING_CONTENT;
                            } else {
                                advance(lexer);
                                lexer->mark_end(lexer);
                                array_pop(&scanner->delimiters);
                                lexer->result_symbol = STRING_END;
                                scanner->inside_interpolated_string = false;
                            }
                            return true;
                        }
                        lexer->mark_end(lexer);
                        lexer->result_symbol = STRING_CONTENT;
                        return true;
                    }
                    lexer->mark_end(lexer);
                    lexer->result_symbol = STRING_CONTENT;
                    return true;
                }
                if (has_content) {
                    lexer->result_symbol = STRING_CONTENT;
                } else {
                    advance(lexer);
                    array_pop(&scanner->delimiters);
                    lexer->result_symbol = STRING_END;
                    scanner->inside_interpolated_string = false;
                }
                lexer->mark_end(lexer);
                return true;

            } else if (lexer->lookahead == '\n' && has_content && !is_triple(delimiter)) {
                return false;
            }
            advance(lexer);
            has_content = true;
        }
    }

    lexer->mark_end(lexer);

    // kiln patch (this block down to the string start, plus the run_* fields and their
    // serialization): a run of comment lines is read O(1) times per line, not once per line
    // of the run. Upstream, every line of a run reads all the following comment lines to find
    // the indentation of the first line after the run (it decides INDENT/DEDENT there), and
    // the internal lexer then takes the comment, so the next line reads them all again:
    // quadratic (200 KB of column-0 comments in a class body took a minute). Here the first
    // full read stores that answer in the serialized state (run_remaining comment lines follow,
    // then a line indented run_indent; run_quote: it starts with a quote), and while a summary
    // is live the scanner takes each comment line itself (a COMMENT token, the same node the
    // internal lexer makes) so the count stays exact. Every result equals upstream's: a
    // summary only replaces reading text it describes. vendor/README.md has the test.
    uint32_t run_in = scanner->run_remaining;
    // A token carries the summary on only where a path below says so; in error recovery a
    // token keeps it unchanged, so that tree-sitter's test "did the state change" (it drops
    // empty tokens that change nothing) sees what it saw upstream.
    if (!error_recovery_mode) {
        scanner->run_remaining = 0;
    }
    bool comments_end_lines =
        valid_symbols[INDENT] || valid_symbols[DEDENT] || valid_symbols[NEWLINE] || valid_symbols[EXCEPT];

    bool found_end_of_line = false;
    uint16_t indent_length = 0;
    int32_t first_comment_indent_length = -1;
    // stopped at the '#' of a comment line that follows a line end, without reading it
    bool at_comment_line = false;
    // the run is known without reading it: indent_length and next_is_quote come from the state
    bool from_summary = false;
    bool next_is_quote_known = false;
    bool keep_summary = false;
    // while reading a whole run: comment lines seen, and whether the run is plain enough to
    // summarise (only comments, blank lines and indentation; no line continuation or NUL)
    uint32_t run_lines = 0;
    bool run_plain = true;
    for (;;) {
        if (lexer->lookahead == '\n') {
            found_end_of_line = true;
            indent_length = 0;
            skip(lexer);
        } else if (lexer->lookahead == ' ') {
            indent_length++;
            skip(lexer);
        } else if (lexer->lookahead == '\r' || lexer->lookahead == '\f') {
            indent_length = 0;
            skip(lexer);
        } else if (lexer->lookahead == '\t') {
            indent_length += 8;
            skip(lexer);
        } else if (lexer->lookahead == '#' && comments_end_lines) {
            // If we haven't found an EOL yet,
            // then this is a comment after an expression:
            //   foo = bar # comment
            // Just return, since we don't want to generate an indent/dedent
            // token.
            if (!found_end_of_line) {
                return false;
            }
            if (first_comment_indent_length == -1) {
                first_comment_indent_length = (int32_t)indent_length;
                if (run_in > 0) {
                    // A live summary describes everything up to the line after the run.
                    indent_length = scanner->run_indent;
                    next_is_quote_known = scanner->run_quote;
                    at_comment_line = true;
                    from_summary = true;
                    break;
                }
                // A DEDENT needs the first comment to be less indented than the current
                // block, and an INDENT must be valid here; when neither can happen the
                // indentation of the line after these comments cannot change the result, so
                // stop at the first comment.
                if (!valid_symbols[INDENT] &&
                    (scanner->indents.size == 0 ||
                     first_comment_indent_length >= (int32_t)*array_back(&scanner->indents))) {
                    at_comment_line = true;
                    break;
                }
            }
            run_lines++;
            while (lexer->lookahead && lexer->lookahead != '\n') {
                skip(lexer);
            }
            if (!lexer->lookahead && !lexer->eof(lexer)) {
                run_plain = false;
            }
            skip(lexer);
            indent_length = 0;
        } else if (lexer->lookahead == '\\') {
            run_plain = false;
            skip(lexer);
            if (lexer->lookahead == '\r') {
                skip(lexer);
            }
            if (lexer->lookahead == '\n' || lexer->eof(lexer)) {
                skip(lexer);
            } else {
                return false;
            }
        } else if (lexer->eof(lexer)) {
            indent_length = 0;
            found_end_of_line = true;
            break;
        } else {
            if (lexer->lookahead == '#' && found_end_of_line && run_in > 0) {
                // a comment line where comments do not end lines: upstream's result stands,
                // and the scanner takes the line so the live summary's count stays exact
                at_comment_line = true;
                keep_summary = true;
            }
            break;
        }
    }
    bool next_tok_is_string_start = from_summary ? next_is_quote_known
                                                 : (lexer->lookahead == '\"' || lexer->lookahead == '\'' ||
                                                    lexer->lookahead == '`');
    if (run_lines > 0 && run_plain && !error_recovery_mode) {
        // Read a whole run just now: a zero-width token below carries what was learnt.
        scanner->run_remaining = run_lines;
        scanner->run_indent = indent_length;
        scanner->run_quote = next_tok_is_string_start;
    } else if (from_summary || keep_summary) {
        scanner->run_remaining = run_in;
    }

    if (found_end_of_line) {
        if (scanner->indents.size > 0) {
            uint16_t current_indent_length = *array_back(&scanner->indents);

            if (valid_symbols[INDENT] && indent_length > current_indent_length) {
                array_push(&scanner->indents, indent_length);
                lexer->result_symbol = INDENT;
                return true;
            }

            if ((valid_symbols[DEDENT] ||
                 (!valid_symbols[NEWLINE] && !(valid_symbols[STRING_START] && next_tok_is_string_start) &&
                  !within_brackets)) &&
                indent_length < current_indent_length && !scanner->inside_interpolated_string &&

                // Wait to create a dedent token until we've consumed any
                // comments
                // whose indentation matches the current block.
                first_comment_indent_length < (int32_t)current_indent_length) {
                array_pop(&scanner->indents);
                lexer->result_symbol = DEDENT;
                return true;
            }
        }

        if (valid_symbols[NEWLINE] && !error_recovery_mode) {
            lexer->result_symbol = NEWLINE;
            return true;
        }
    }

    // Upstream returns false here and the internal lexer takes the comment line; when a
    // summary is live (or worth starting: the block is indented, so a later line of the run
    // may need the line after it), take it as a COMMENT token instead, so the state moves on.
    // (Not after a line continuation: the internal lexer makes that a node of its own.)
    if (at_comment_line && run_plain && valid_symbols[COMMENT] && (run_in > 0 || scanner->indents.size > 1)) {
        while (lexer->lookahead && lexer->lookahead != '\n') {
            advance(lexer);
        }
        lexer->mark_end(lexer);
        lexer->result_symbol = COMMENT;
        if (run_in > 0) {
            scanner->run_remaining = run_in - 1;
            return true;
        }
        if (error_recovery_mode) {
            return true;
        }
        // Read the rest of the run once (beyond the token's end) to start a summary.
        bool plain = lexer->lookahead == '\n' || lexer->eof(lexer);
        uint32_t lines = 0;
        uint16_t indent = 0;
        while (plain) {
            if (lexer->lookahead == '\n') {
                indent = 0;
                advance(lexer);
            } else if (lexer->lookahead == ' ') {
                indent++;
                advance(lexer);
            } else if (lexer->lookahead == '\r' || lexer->lookahead == '\f') {
                indent = 0;
                advance(lexer);
            } else if (lexer->lookahead == '\t') {
                indent += 8;
                advance(lexer);
            } else if (lexer->lookahead == '#') {
                lines++;
                while (lexer->lookahead && lexer->lookahead != '\n') {
                    advance(lexer);
                }
                if (!lexer->lookahead && !lexer->eof(lexer)) {
                    plain = false;
                }
            } else if (lexer->lookahead == '\\') {
                plain = false;
            } else if (lexer->eof(lexer)) {
                indent = 0;
                break;
            } else {
                break;
            }
        }
        if (plain && lines > 0) {
            scanner->run_remaining = lines;
            scanner->run_indent = indent;
            scanner->run_quote = lexer->lookahead == '\"' || lexer->lookahead == '\'' || lexer->lookahead == '`';
        }
        return true;
    }
    if (first_comment_indent_length == -1 && valid_symbols[STRING_START]) {
        Delimiter delimiter = new_delimiter();

        bool has_flags = false;
        while (lexer->lookahead) {
            if (lexer->lookahead == 'f' || lexer->lookahead == 'F' || lexer->lookahead == 't' ||
                lexer->lookahead == 'T') {
                set_format(&delimiter);
            } else if (lexer->lookahead == 'r' || lexer->lookahead == 'R') {
                set_raw(&delimiter);
            } else if (lexer->lookahead == 'b' || lexer->lookahead == 'B') {
                set_bytes(&delimiter);
            } else if (lexer->lookahead != 'u' && lexer->lookahead != 'U') {
                break;
            }
            has_flags = true;
            advance(lexer);
        }

        if (lexer->lookahead == '`') {
            set_end_character(&delimiter, '`');
            advance(lexer);
            lexer->mark_end(lexer);
        } else if (lexer->lookahead == '\'') {
            set_end_character(&delimiter, '\'');
            advance(lexer);
            lexer->mark_end(lexer);
            if (lexer->lookahead == '\'') {
                advance(lexer);
                if (lexer->lookahead == '\'') {
                    advance(lexer);
                    lexer->mark_end(lexer);
                    set_triple(&delimiter);
                }
            }
        } else if (lexer->lookahead == '"') {
            set_end_character(&delimiter, '"');
            advance(lexer);
            lexer->mark_end(lexer);
            if (lexer->lookahead == '"') {
                advance(lexer);
                if (lexer->lookahead == '"') {
                    advance(lexer);
                    lexer->mark_end(lexer);
                    set_triple(&delimiter);
                }
            }
        }

        if (end_character(&delimiter)) {
            array_push(&scanner->delimiters, delimiter);
            lexer->result_symbol = STRING_START;
            scanner->inside_interpolated_string = is_format(&delimiter);
            return true;
        }
        if (has_flags) {
            return false;
        }
    }

    return false;
}

unsigned tree_sitter_python_external_scanner_serialize(void *payload, char *buffer) {
    Scanner *scanner = (Scanner *)payload;

    size_t size = 0;

    buffer[size++] = (char)scanner->inside_interpolated_string;

    size_t delimiter_count = scanner->delimiters.size;
    if (delimiter_count > UINT8_MAX) {
        delimiter_count = UINT8_MAX;
    }
    buffer[size++] = (char)delimiter_count;

    if (delimiter_count > 0) {
        memcpy(&buffer[size], scanner->delimiters.contents, delimiter_count);
    }
    size += delimiter_count;

    // kiln patch: the comment-run summary, one byte 0 when there is none
    if (scanner->run_remaining > 0) {
        buffer[size++] = 1;
        memcpy(&buffer[size], &scanner->run_remaining, sizeof(uint32_t));
        size += sizeof(uint32_t);
        memcpy(&buffer[size], &scanner->run_indent, sizeof(uint16_t));
        size += sizeof(uint16_t);
        buffer[size++] = (char)scanner->run_quote;
    } else {
        buffer[size++] = 0;
    }

    uint32_t iter = 1;
    for (; iter < scanner->indents.size && size + 2 <= TREE_SITTER_SERIALIZATION_BUFFER_SIZE; ++iter) {
        uint16_t indent_value = *array_get(&scanner->indents, iter);
        buffer[size++] = (char)(indent_value & 0xFF);
        buffer[size++] = (char)((indent_value >> 8) & 0xFF);
    }

    return size;
}

void tree_sitter_python_external_scanner_deserialize(void *payload, const char *buffer, unsigned length) {
    Scanner *scanner = (Scanner *)payload;

    array_delete(&scanner->delimiters);
    array_delete(&scanner->indents);
    array_push(&scanner->indents, 0);
    scanner->run_remaining = 0;
    scanner->run_indent = 0;
    scanner->run_quote = false;

    if (length > 0) {
        size_t size = 0;

        scanner->inside_interpolated_string = (bool)buffer[size++];

        size_t delimiter_count = (uint8_t)buffer[size++];
        if (delimiter_count > 0) {
            array_reserve(&scanner->delimiters, delimiter_count);
            scanner->delimiters.size = delimiter_count;
            memcpy(scanner->delimiters.contents, &buffer[size], delimiter_count);
            size += delimiter_count;
        }

        if (size < length && buffer[size++]) {
            memcpy(&scanner->run_remaining, &buffer[size], sizeof(uint32_t));
            size += sizeof(uint32_t);
            memcpy(&scanner->run_indent, &buffer[size], sizeof(uint16_t));
            size += sizeof(uint16_t);
            scanner->run_quote = (bool)buffer[size++];
        }

        for (; size + 1 < length; size += 2) {
            uint16_t indent_value = (unsigned char)buffer[size] | ((unsigned char)buffer[size + 1] << 8);
            array_push(&scanner->indents, indent_value);
        }
    }
}

void *tree_sitter_python_external_scanner_create() {
#if defined(__STDC_VERSION__) && (__STDC_VERSION__ >= 201112L)
    _Static_assert(sizeof(Delimiter) == sizeof(char), "");
#else
    assert(sizeof(Delimiter) == sizeof(char));
#endif
    Scanner *scanner = calloc(1, sizeof(Scanner));
    array_init(&scanner->indents);
    array_init(&scanner->delimiters);
    tree_sitter_python_external_scanner_deserialize(scanner, NULL, 0);
    return scanner;
}

void tree_sitter_python_external_scanner_destroy(void *payload) {
    Scanner *scanner = (Scanner *)payload;
    array_delete(&scanner->indents);
    array_delete(&scanner->delimiters);
    free(scanner);
}
