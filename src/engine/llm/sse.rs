//! An incremental server-sent events parser.
//!
//! Bytes arrive in arbitrary pieces (a line, half an event, a hundred events); the parser keeps
//! the unfinished tail and dispatches each complete event as soon as its blank line arrives. Only
//! the `event` and `data` fields matter to model providers; comments and other fields are
//! skipped. Lines are decoded as UTF-8 only once complete, so a character split across two reads
//! is never mangled.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event<'a> {
    /// The `event:` field, empty when absent.
    pub name: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
}

/// The parser state between reads.
#[derive(Debug, Default)]
pub(super) struct Parser {
    buf: Vec<u8>,
    name: String,
    data: String,
    has_data: bool,
}

/// A line that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event stream is not valid UTF-8")]
pub(super) struct InvalidUtf8;

impl Parser {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Feeds a piece of the stream, calling `on_event` for every event it completes; stops at
    /// the first error `on_event` returns.
    pub(super) fn feed<E: From<InvalidUtf8>>(
        &mut self,
        bytes: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            let Some(nl) = memchr_newline(&self.buf[start..]) else {
                break Ok(());
            };
            let end = start + nl;
            let mut line = &self.buf[start..end];
            start = end + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                if let Err(e) = self.dispatch(on_event) {
                    break Err(e);
                }
                continue;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                break Err(InvalidUtf8.into());
            };
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                }
                "event" => {
                    self.name.clear();
                    self.name.push_str(value);
                }
                _ => {} // comments (empty field), id, retry
            }
        };
        self.buf.drain(..start);
        result
    }

    /// Ends the stream: dispatches an event left without its final blank line.
    pub(super) fn finish<E: From<InvalidUtf8>>(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.buf.is_empty() {
            self.feed(b"\n", on_event)?;
        }
        self.dispatch(on_event)
    }

    fn dispatch<E>(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.has_data && self.name.is_empty() {
            return Ok(());
        }
        let result = on_event(Event {
            name: &self.name,
            data: &self.data,
        });
        self.name.clear();
        self.data.clear();
        self.has_data = false;
        result
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(pieces: &[&[u8]]) -> Vec<(String, String)> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        let mut push = |e: Event<'_>| -> Result<(), InvalidUtf8> {
            out.push((e.name.to_owned(), e.data.to_owned()));
            Ok(())
        };
        for piece in pieces {
            p.feed(piece, &mut push).unwrap();
        }
        p.finish(&mut push).unwrap();
        out
    }

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let whole =
            "event: a\ndata: 1\n\n: comment\ndata: x\ndata: y\r\n\r\ndata: é\n\n".as_bytes();
        let expected = collect(&[whole]);
        assert_eq!(
            expected,
            [
                ("a".into(), "1".into()),
                (String::new(), "x\ny".into()),
                (String::new(), "é".into())
            ]
        );
        for split in 0..whole.len() {
            assert_eq!(collect(&[&whole[..split], &whole[split..]]), expected);
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(collect(&bytes), expected);
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        assert_eq!(collect(&[b"data: tail"]), [(String::new(), "tail".into())]);
    }
}
