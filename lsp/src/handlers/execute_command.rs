//! `workspace/executeCommand`: hands the command to the runs owner and answers at once (long
//! work goes on in the background and reports through progress, applyEdit and messages).

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{ExecuteCommandParams, LSPAny};

use crate::commands::{self, Args};
use crate::server::Backend;

pub(crate) async fn handle(b: &Backend, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
    if !commands::ALL.contains(&params.command.as_str()) {
        return Err(crate::errors::invalid_params(format!(
            "unknown command '{}'",
            params.command
        )));
    }
    let args = Args::parse(&params.arguments).map_err(crate::errors::invalid_params)?;
    let answer = b.runs.execute(params.command, args);
    match answer.await {
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(message)) => Err(crate::errors::failed(message)),
        None => Err(crate::errors::stopped()),
    }
}
