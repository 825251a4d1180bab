//! Commands people run against a cluster with their own kubeconfig (also as
//! `kubectl plumbline …`): listing, requesting and approving exceptions,
//! explaining a workload's verdict.
//! I/O through the user's own identity only; what to send and what to show
//! is built by pure functions beside it.

pub mod exceptions;
pub mod explain;

/// Why a command failed: each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No usable kubeconfig or cluster.
    #[error("cannot reach the cluster: {0} (set KUBECONFIG or --kubeconfig, or choose a context)")]
    Connect(String),
    /// The API server refused or failed the request; its message says why.
    #[error("{0}")]
    Api(String),
    /// What the user asked for does not make sense; the message says what to change.
    #[error("{0}")]
    Usage(String),
}

impl From<kube::Error> for CliError {
    fn from(err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => CliError::Api(status.message),
            other => CliError::Api(other.to_string()),
        }
    }
}
