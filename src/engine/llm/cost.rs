//! What a call cost, from the model's configured prices per million tokens.

use super::config::ModelConfig;
use super::message::Usage;

/// US dollars for `usage`, or `None` when the provider reported no token counts.
pub(super) fn cost_usd(model: &ModelConfig, usage: &Usage) -> Option<f64> {
    if usage.tokens_in.is_none() && usage.tokens_out.is_none() {
        return None;
    }
    let tokens_in = usage.tokens_in.unwrap_or(0) as f64;
    let tokens_out = usage.tokens_out.unwrap_or(0) as f64;
    Some((tokens_in * model.price_in_per_mtok + tokens_out * model.price_out_per_mtok) / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_per_million_tokens() {
        let m = ModelConfig {
            price_in_per_mtok: 2.0,
            price_out_per_mtok: 10.0,
            ..ModelConfig::default()
        };
        let usage = Usage {
            tokens_in: Some(1_000),
            tokens_out: Some(500),
        };
        let cost = cost_usd(&m, &usage).unwrap();
        assert!((cost - 0.007).abs() < 1e-12, "{cost}");
        assert_eq!(cost_usd(&m, &Usage::default()), None);
    }
}
