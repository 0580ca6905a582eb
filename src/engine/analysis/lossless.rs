//! Text that round-trips bytes which are not UTF-8, for `--fix`: each invalid byte `b` is read
//! as the private-use character U+10FF00 + `b` and written back as the byte, so a fix changes
//! only what it edits (a Latin-1 comment is not rewritten as U+FFFD). Analysis without fixes
//! reads such files with replacement characters instead, as the note says.

/// First code point of the 256 that stand for invalid bytes (Supplementary Private Use Area-B).
const BASE: u32 = 0x10_FF00;

/// `bytes` as text with each invalid byte escaped; `None` when the valid text already contains
/// one of the escape characters (then the escape would not round-trip).
pub(crate) fn decode(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        if valid.chars().any(is_escape) {
            return None;
        }
        out.push_str(valid);
        for &b in chunk.invalid() {
            #[allow(
                clippy::expect_used,
                reason = "BASE + a byte is in U+10FF00..U+10FFFF, all valid chars"
            )]
            out.push(char::from_u32(BASE + u32::from(b)).expect("U+10FF00..U+10FFFF are chars"));
        }
    }
    Some(out)
}

/// The bytes of text made by [`decode`] (and edited): escapes become their bytes again.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0; 4];
    for c in text.chars() {
        if is_escape(c) {
            out.push((c as u32 - BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

fn is_escape(c: char) -> bool {
    (BASE..=BASE + 0xff).contains(&(c as u32))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn invalid_bytes_round_trip_and_valid_text_is_unchanged() {
        let bytes = b"# caf\xe9 \xff\xfe\nx = 1  # \xc3\n\xe2\x82\xac";
        let text = decode(bytes).unwrap();
        assert!(text.starts_with("# caf") && text.ends_with('€'));
        assert_eq!(encode(&text), bytes);
        assert_eq!(decode("plain €".as_bytes()).unwrap(), "plain €");
        assert!(decode("\u{10ff41}".as_bytes()).is_none());
    }
}
