//! Untrusted text made safe to show on a terminal.
//!
//! Output of sandboxed programs, text of analysed files, model replies and file names may carry
//! escape sequences: OSC 52 writes the user's clipboard, others set the window title, move the
//! cursor or switch screens. Front-ends pass such text through [`inert`] (or [`keep_sgr`] where
//! the program's colours are wanted) before it reaches a terminal; stored data keeps the raw
//! bytes. Every ESC, C0 control other than tab and newline, DEL and C1 control becomes visible
//! text (`␛`, `␇`, `␡`, `<9b>` ...), so nothing but printable characters ever leaves.

use std::borrow::Cow;

/// `text` with every control character shown as a visible symbol (tab and newline kept).
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    push_inert(&mut out, text);
    Cow::Owned(out)
}

/// Like [`inert`], but well-formed SGR colour sequences (`ESC [ params m`) are kept as they are,
/// for a terminal that should show the program's colours. Any other sequence is made inert.
pub fn keep_sgr(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        push_inert(&mut out, &rest[..at]);
        let tail = &rest[at..];
        if let Some(len) = sgr_len(tail) {
            out.push_str(&tail[..len]);
            rest = &tail[len..];
        } else {
            out.push('␛');
            rest = &tail[1..];
        }
    }
    push_inert(&mut out, rest);
    Cow::Owned(out)
}

/// The length of the SGR sequence `text` starts with (`ESC [` digits and `;` or `:`, then `m`).
pub fn sgr_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';' || *b == b':')
        .count();
    // Bounded: a real SGR is short; a megabyte of digits is not colour.
    (params <= 64 && body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

fn is_unsafe(c: char) -> bool {
    matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}')
}

fn push_inert(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A CRLF line end is a line end, not a cursor move.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\x1b' => out.push('␛'),
            '\x7f' => out.push('␡'),
            // The Control Pictures block has a symbol for each C0 control.
            '\0'..='\x08' | '\x0b'..='\x1f' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?'));
            }
            '\u{80}'..='\u{9f}' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as usize;
                out.extend(['<', HEX[b >> 4] as char, HEX[b & 15] as char, '>']);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(inert("hello\n\tworld"), Cow::Borrowed(_)));
        assert!(matches!(keep_sgr("ok: é ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_and_controls_become_visible() {
        let osc52 = "\x1b]52;c;aGVsbG8=\x07";
        assert_eq!(inert(osc52), "␛]52;c;aGVsbG8=␇");
        assert_eq!(inert("a\x1b[2J\x1b[Hb"), "a␛[2J␛[Hb");
        assert_eq!(
            inert("bell\x07 del\x7f c1\u{9b}31m"),
            "bell␇ del␡ c1<9b>31m"
        );
        assert_eq!(inert("over\rwrite"), "over␍write");
        assert_eq!(inert("dos\r\nline"), "dos\nline");
        assert_eq!(inert("nul\0"), "nul␀");
    }

    #[test]
    fn colours_survive_only_in_keep_sgr() {
        let red = "\x1b[1;31merror\x1b[0m";
        assert_eq!(keep_sgr(red), red);
        assert_eq!(inert(red), "␛[1;31merror␛[0m");
        assert_eq!(
            keep_sgr("\x1b[31mred\x1b]0;title\x07\x1b[?1049h"),
            "\x1b[31mred␛]0;title␇␛[?1049h"
        );
        assert_eq!(keep_sgr("\x1b[38:5:196mx"), "\x1b[38:5:196mx");
        assert_eq!(keep_sgr("cut \x1b["), "cut ␛[");
    }

    #[test]
    fn nothing_unsafe_survives_any_input() {
        let nasty: String = (0u32..0x200).filter_map(char::from_u32).collect();
        for out in [inert(&nasty), keep_sgr(&nasty)] {
            assert!(!out.chars().any(is_unsafe), "{out:?}");
        }
        let sgr = keep_sgr("\x1b[0m\x1b[0;1m");
        assert_eq!(sgr.matches('\x1b').count(), 2);
    }
}
