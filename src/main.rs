//! The `kiln` binary: parses arguments and hands off to the CLI (or, later, the dashboard).

fn main() {}
