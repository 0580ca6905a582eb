//! `shutdown`: cancels the runs this server started; the process exits on `exit` or when stdin
//! closes.

use crate::runs::RunMsg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend) {
    b.runs.send(RunMsg::CancelAll);
}
