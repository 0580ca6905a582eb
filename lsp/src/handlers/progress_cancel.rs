//! `window/workDoneProgress/cancel`: the user cancelled a run's progress; cancel the run.

use serde::Deserialize;
use tower_lsp_server::ls_types::ProgressToken;

use crate::runs::RunMsg;
use crate::server::Backend;

#[derive(Debug, Deserialize)]
pub(crate) struct CancelParams {
    token: ProgressToken,
}

impl Backend {
    #[allow(clippy::unused_async)] // the router takes async methods
    pub(crate) async fn progress_cancel(&self, params: CancelParams) {
        self.runs.send(RunMsg::CancelToken(params.token));
    }
}
