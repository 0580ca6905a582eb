//! The response cache: a hash of everything that determines a reply.
//!
//! Replies live in the `generations` table itself (a cache hit is the newest successful row with
//! the same key), so the cache needs no table of its own and `kiln stats` counts hits.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::message::{Message, Params};

/// Whether a call may be served from, and stored for, the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// Cached when the temperature is 0 (or `models.cache_always` is set).
    #[default]
    Auto,
    /// Cached whatever the temperature.
    Always,
    /// Never read from the cache (`--no-cache`); the reply is still recorded.
    Bypass,
}

impl CachePolicy {
    pub fn applies(self, temperature: f64, cache_always: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Bypass => false,
            Self::Auto => cache_always || temperature == 0.0,
        }
    }
}

/// The cache key: SHA-256 over (provider, base URL, model, messages, parameters).
pub(super) fn key(
    provider: &str,
    base_url: &str,
    model: &str,
    messages: &[Message],
    params: &Params,
) -> String {
    let canonical = json!({
        "provider": provider,
        "base_url": base_url,
        "model": model,
        "messages": messages,
        "params": params,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_changes_with_every_input() {
        let p = Params {
            max_tokens: 5,
            temperature: 0.0,
        };
        let m = [Message::user("hi")];
        let base = key("openai", "u", "m", &m, &p);
        assert_eq!(base, key("openai", "u", "m", &m, &p));
        assert_ne!(base, key("anthropic", "u", "m", &m, &p));
        assert_ne!(base, key("openai", "u", "m2", &m, &p));
        assert_ne!(base, key("openai", "u", "m", &[Message::user("ho")], &p));
        let p2 = Params { max_tokens: 6, ..p };
        assert_ne!(base, key("openai", "u", "m", &m, &p2));
        assert!(CachePolicy::Auto.applies(0.0, false));
        assert!(!CachePolicy::Auto.applies(0.7, false));
        assert!(CachePolicy::Always.applies(0.7, false));
        assert!(!CachePolicy::Bypass.applies(0.0, true));
    }
}
