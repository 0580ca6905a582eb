//! `shutdown`: cancels the runs this server started; the process exits on `exit` or when stdin
//! closes.

use tower_lsp_server::jsonrpc::Result;

use crate::runs::RunMsg;
use crate::server::Backend;

pub(crate) async fn handle(b: &Backend) -> Result<()> {
    b.runs.send(RunMsg::CancelAll);
    Ok(())
}
