//! The handshake: capabilities and position encoding negotiation.

use serde_json::json;

use crate::client::Client;

#[tokio::test]
async fn utf8_when_offered_with_every_capability() {
    let mut c = Client::start();
    let result = c
        .initialize(
            json!({"general": {"positionEncodings": ["utf-16", "utf-8"]}}),
            json!(null),
        )
        .await;
    insta::assert_json_snapshot!(result);
    c.finish().await;
}

#[tokio::test]
async fn utf16_otherwise_and_pull_diagnostics_when_supported() {
    let mut c = Client::start();
    let result = c
        .initialize(
            json!({"textDocument": {"diagnostic": {"dynamicRegistration": false}}}),
            json!(null),
        )
        .await;
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(
        result["capabilities"]["diagnosticProvider"]["identifier"],
        "kiln"
    );
    c.finish().await;
}
